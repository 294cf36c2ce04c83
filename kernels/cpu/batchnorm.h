// Batch normalisation on the CPU over M rows of C channels: x is (N, H, W, C) seen as
// (M = N*H*W, C), or (N, F) features seen as (M = N, C = F). Statistics are per channel.
//
// Training mode normalises with the batch's own statistics (biased variance, divisor M):
//   mean = sum_m x / M,  var = sum_m (x - mean)^2 / M,  inv_std = 1 / sqrt(var + eps)
//   x_hat = (x - mean) * inv_std,  y = gamma * x_hat + beta
// and updates the running statistics the way Keras does:
//   moving = momentum * moving + (1 - momentum) * batch_stat
// Keras feeds the BIASED batch variance into moving_variance; PyTorch's BatchNorm feeds the
// unbiased one (divisor M - 1), so the two frameworks' running variances differ slightly.
// (PyTorch's `momentum` is also the weight of the NEW value: Keras's 0.99 is PyTorch's 0.01.)
// Inference mode normalises with the running statistics and changes nothing.
//
// Sums over M run in double (acc scratch), whatever T is: M reaches half a million in a batch.
// The variance is a second pass over (x - mean)^2, not E[x^2] - mean^2, which cancels badly.
//
// Backward in training mode (gradients through the batch statistics):
//   dbeta = sum_m dy,  dgamma = sum_m dy * x_hat
//   dx = gamma * inv_std / M * (M * dy - dbeta - x_hat * dgamma)
// In inference mode the statistics are constants: dx = dy * gamma / sqrt(moving_var + eps).
#pragma once

#include <cmath>
#include <cstdint>

namespace knotnet::cpu {

// x: (M, C) -> y: (M, C). gamma, beta, moving_mean, moving_var: (C); the running statistics
// are updated in place. save_mean, save_inv_std: (C) for backward. acc: (2, C) doubles, scratch.
template <typename T>
void batchnorm_forward_train(const T* x, T* y, int64_t m, int64_t c, const T* gamma, const T* beta, T* moving_mean,
                             T* moving_var, double momentum, double epsilon, T* save_mean, T* save_inv_std,
                             double* acc) {
  double* sum = acc;
  double* sq = acc + c;
  for (int64_t ch = 0; ch < c; ++ch) sum[ch] = sq[ch] = 0.0;
  for (int64_t r = 0; r < m; ++r) {
    const T* xr = x + r * c;
    for (int64_t ch = 0; ch < c; ++ch) sum[ch] += static_cast<double>(xr[ch]);
  }
  const double inv_m = m > 0 ? 1.0 / static_cast<double>(m) : 0.0;
  for (int64_t ch = 0; ch < c; ++ch) sum[ch] *= inv_m;  // now the mean
  for (int64_t r = 0; r < m; ++r) {
    const T* xr = x + r * c;
    for (int64_t ch = 0; ch < c; ++ch) {
      const double d = static_cast<double>(xr[ch]) - sum[ch];
      sq[ch] += d * d;
    }
  }
  for (int64_t ch = 0; ch < c; ++ch) {
    const double mean = sum[ch], var = sq[ch] * inv_m;
    const double inv_std = 1.0 / std::sqrt(var + epsilon);
    save_mean[ch] = static_cast<T>(mean);
    save_inv_std[ch] = static_cast<T>(inv_std);
    moving_mean[ch] = static_cast<T>(momentum * static_cast<double>(moving_mean[ch]) + (1.0 - momentum) * mean);
    moving_var[ch] = static_cast<T>(momentum * static_cast<double>(moving_var[ch]) + (1.0 - momentum) * var);
    // Reuse acc as y = x * scale + shift with scale = gamma * inv_std, shift = beta - mean * scale.
    const double scale = static_cast<double>(gamma[ch]) * inv_std;
    sum[ch] = scale;
    sq[ch] = static_cast<double>(beta[ch]) - mean * scale;
  }
  for (int64_t r = 0; r < m; ++r) {
    const T* xr = x + r * c;
    T* yr = y + r * c;
    for (int64_t ch = 0; ch < c; ++ch) yr[ch] = static_cast<T>(static_cast<double>(xr[ch]) * sum[ch] + sq[ch]);
  }
}

// Inference: y = gamma * (x - moving_mean) / sqrt(moving_var + eps) + beta. acc: (2, C) scratch.
template <typename T>
void batchnorm_forward_infer(const T* x, T* y, int64_t m, int64_t c, const T* gamma, const T* beta,
                             const T* moving_mean, const T* moving_var, double epsilon, double* acc) {
  double* scale = acc;
  double* shift = acc + c;
  for (int64_t ch = 0; ch < c; ++ch) {
    scale[ch] = static_cast<double>(gamma[ch]) / std::sqrt(static_cast<double>(moving_var[ch]) + epsilon);
    shift[ch] = static_cast<double>(beta[ch]) - static_cast<double>(moving_mean[ch]) * scale[ch];
  }
  for (int64_t r = 0; r < m; ++r) {
    const T* xr = x + r * c;
    T* yr = y + r * c;
    for (int64_t ch = 0; ch < c; ++ch) yr[ch] = static_cast<T>(static_cast<double>(xr[ch]) * scale[ch] + shift[ch]);
  }
}

// Training-mode gradients, from the statistics forward saved. x, dy: (M, C). Overwrites
// dgamma, dbeta: (C), and dx: (M, C) unless dx is null. acc: (2, C) doubles, scratch.
template <typename T>
void batchnorm_backward_train(const T* x, const T* dy, T* dx, int64_t m, int64_t c, const T* gamma, const T* save_mean,
                              const T* save_inv_std, T* dgamma, T* dbeta, double* acc) {
  double* sdy = acc;        // sum dy
  double* sdyxh = acc + c;  // sum dy * x_hat
  for (int64_t ch = 0; ch < c; ++ch) sdy[ch] = sdyxh[ch] = 0.0;
  for (int64_t r = 0; r < m; ++r) {
    const T* xr = x + r * c;
    const T* dyr = dy + r * c;
    for (int64_t ch = 0; ch < c; ++ch) {
      const double g = static_cast<double>(dyr[ch]);
      const double xh =
          (static_cast<double>(xr[ch]) - static_cast<double>(save_mean[ch])) * static_cast<double>(save_inv_std[ch]);
      sdy[ch] += g;
      sdyxh[ch] += g * xh;
    }
  }
  for (int64_t ch = 0; ch < c; ++ch) {
    dbeta[ch] = static_cast<T>(sdy[ch]);
    dgamma[ch] = static_cast<T>(sdyxh[ch]);
  }
  if (!dx || m == 0) return;
  const double inv_m = 1.0 / static_cast<double>(m);
  for (int64_t r = 0; r < m; ++r) {
    const T* xr = x + r * c;
    const T* dyr = dy + r * c;
    T* dxr = dx + r * c;
    for (int64_t ch = 0; ch < c; ++ch) {
      const double inv_std = static_cast<double>(save_inv_std[ch]);
      const double xh = (static_cast<double>(xr[ch]) - static_cast<double>(save_mean[ch])) * inv_std;
      const double k = static_cast<double>(gamma[ch]) * inv_std;
      dxr[ch] = static_cast<T>(k * (static_cast<double>(dyr[ch]) - (sdy[ch] + xh * sdyxh[ch]) * inv_m));
    }
  }
}

// Inference-mode gradients (running statistics are constants). Overwrites dgamma, dbeta: (C),
// and dx: (M, C) unless dx is null. acc: (2, C) doubles, scratch.
template <typename T>
void batchnorm_backward_infer(const T* x, const T* dy, T* dx, int64_t m, int64_t c, const T* gamma,
                              const T* moving_mean, const T* moving_var, double epsilon, T* dgamma, T* dbeta,
                              double* acc) {
  double* sdy = acc;
  double* sdyxh = acc + c;
  for (int64_t ch = 0; ch < c; ++ch) sdy[ch] = sdyxh[ch] = 0.0;
  for (int64_t r = 0; r < m; ++r) {
    const T* xr = x + r * c;
    const T* dyr = dy + r * c;
    for (int64_t ch = 0; ch < c; ++ch) {
      const double g = static_cast<double>(dyr[ch]);
      const double xh = (static_cast<double>(xr[ch]) - static_cast<double>(moving_mean[ch])) /
                        std::sqrt(static_cast<double>(moving_var[ch]) + epsilon);
      sdy[ch] += g;
      sdyxh[ch] += g * xh;
    }
  }
  for (int64_t ch = 0; ch < c; ++ch) {
    dbeta[ch] = static_cast<T>(sdy[ch]);
    dgamma[ch] = static_cast<T>(sdyxh[ch]);
  }
  if (!dx) return;
  for (int64_t r = 0; r < m; ++r) {
    const T* dyr = dy + r * c;
    T* dxr = dx + r * c;
    for (int64_t ch = 0; ch < c; ++ch)
      dxr[ch] = static_cast<T>(static_cast<double>(dyr[ch]) * static_cast<double>(gamma[ch]) /
                               std::sqrt(static_cast<double>(moving_var[ch]) + epsilon));
  }
}

}  // namespace knotnet::cpu
