// Batch-norm pieces shared by batchnorm.cu (plain) and fused_bn_relu_pool.cu (BN + ReLU and
// BN + ReLU + 2x2 max-pool): the statistics reduction, the per-channel finalisation, and the
// backward reduction and dx pass, templated on where the gradient reaching BN's output comes
// from (GradMode). Included only by .cu files; kernels and their host launchers have internal
// linkage (an unnamed namespace), so each including file gets its own copies.
//
// Workspace (doubles), for R = reduce_row_blocks(M):
//   partials (R, 2, C) | stats (2, C): mean, inv_std | coef (3, C)
// coef holds (scale, shift) after a forward finalisation and (k, A, B) after a backward one,
// with dx = k * (g - A - x_hat * B).
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/pool2.cuh"
#include "kernels/cuda/reduce.cuh"

namespace knotnet::cuda::bn {

struct Workspace {
  double* partials;  // (R, 2, C)
  double* stats;     // (2, C)
  double* coef;      // (3, C)
  int rows;          // R
};

inline int64_t workspace_doubles(int64_t m, int64_t c) { return (2 * static_cast<int64_t>(reduce_row_blocks(m)) + 5) * c; }

inline Workspace split(double* work, int64_t m, int64_t c) {
  Workspace w;
  w.rows = reduce_row_blocks(m);
  w.partials = work;
  w.stats = work + 2 * static_cast<int64_t>(w.rows) * c;
  w.coef = w.stats + 2 * c;
  return w;
}

// Where the gradient of BN's output comes from.
enum class GradMode {
  plain,      // dy: (M, C), BN's own output gradient
  relu,       // BN -> ReLU: g = y > 0 ? dy : 0, with y, dy: (M, C) the ReLU's output and its gradient
  relu_pool,  // BN -> ReLU -> maxpool 2: y, dy, argmax: (N, H/2, W/2, C) the pool's; g is dy at the
              // window's recorded maximum when that maximum is positive, else 0
};

struct GradSource {
  const float* dy = nullptr;
  const float* y = nullptr;
  const uint8_t* argmax = nullptr;
  int64_t h = 0, w = 0;  // relu_pool: BN's spatial size (the pool's input)
};

template <GradMode MODE>
__device__ __forceinline__ float grad_at(const GradSource& src, int64_t r, int64_t ch, int64_t c) {
  if constexpr (MODE == GradMode::plain) {
    return src.dy[r * c + ch];
  } else if constexpr (MODE == GradMode::relu) {
    const int64_t e = r * c + ch;
    return src.y[e] > 0.0f ? src.dy[e] : 0.0f;
  } else {
    const Pool2Slot at = pool2_slot(r, ch, src.h, src.w, c);
    if (at.pooled < 0 || src.argmax[at.pooled] != at.corner) return 0.0f;
    return src.y[at.pooled] > 0.0f ? src.dy[at.pooled] : 0.0f;
  }
}

namespace {

// Sums of (x - K) and (x - K)^2 per channel, K = x[0, ch] (a shift against cancellation when a
// channel's mean is large against its spread).
__global__ void stats_kernel(const float* __restrict__ x,      // (M, C)
                             double* __restrict__ partials,    // (R, 2, C)
                             int64_t m, int64_t c) {
  const int64_t ch = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  double acc[2] = {0.0, 0.0};
  if (ch < c) {
    const double shift = static_cast<double>(x[ch]);
    const int64_t step = static_cast<int64_t>(gridDim.y) * kRowLanes;
    for (int64_t r = static_cast<int64_t>(blockIdx.y) * kRowLanes + threadIdx.y; r < m; r += step) {
      const double d = static_cast<double>(x[r * c + ch]) - shift;
      acc[0] += d;
      acc[1] += d * d;
    }
  }
  reduce_block_store<2>(acc, partials, c, ch);
}

// Batch statistics -> saved mean / inv_std, running statistics, and (scale, shift) in coef.
__global__ void forward_finalize_kernel(const float* __restrict__ x,  // (M, C), row 0 read for the shift
                                        const double* __restrict__ partials, int rows, int64_t m, int64_t c,
                                        const float* __restrict__ gamma, const float* __restrict__ beta,
                                        float* __restrict__ moving_mean, float* __restrict__ moving_var,
                                        double momentum, double epsilon, float* __restrict__ save_mean,
                                        float* __restrict__ save_inv_std, double* __restrict__ coef) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t ch = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; ch < c; ch += stride) {
    const double inv_m = 1.0 / static_cast<double>(m);
    const double s = reduce_partials<2>(partials, rows, 0, c, ch) * inv_m;   // mean of (x - K)
    const double sq = reduce_partials<2>(partials, rows, 1, c, ch) * inv_m;  // mean of (x - K)^2
    const double mean = static_cast<double>(x[ch]) + s;
    const double var = fmax(sq - s * s, 0.0);
    const double inv_std = 1.0 / sqrt(var + epsilon);
    save_mean[ch] = static_cast<float>(mean);
    save_inv_std[ch] = static_cast<float>(inv_std);
    moving_mean[ch] = static_cast<float>(momentum * static_cast<double>(moving_mean[ch]) + (1.0 - momentum) * mean);
    moving_var[ch] = static_cast<float>(momentum * static_cast<double>(moving_var[ch]) + (1.0 - momentum) * var);
    const double scale = static_cast<double>(gamma[ch]) * inv_std;
    coef[ch] = scale;
    coef[c + ch] = static_cast<double>(beta[ch]) - mean * scale;
  }
}

// Running statistics -> (scale, shift) in coef, for inference.
__global__ void infer_affine_kernel(const float* __restrict__ gamma, const float* __restrict__ beta,
                                    const float* __restrict__ moving_mean, const float* __restrict__ moving_var,
                                    double epsilon, int64_t c, double* __restrict__ coef) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t ch = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; ch < c; ch += stride) {
    const double scale = static_cast<double>(gamma[ch]) / sqrt(static_cast<double>(moving_var[ch]) + epsilon);
    coef[ch] = scale;
    coef[c + ch] = static_cast<double>(beta[ch]) - static_cast<double>(moving_mean[ch]) * scale;
  }
}

// y = x * scale + shift (in double, rounded once), then ReLU when RELU.
template <bool RELU>
__global__ void apply_kernel(const float* x,                  // (M, C)
                             float* y,                        // (M, C), may alias x
                             const double* __restrict__ coef, // (2, C): scale, shift
                             int64_t m, int64_t c) {
  const int64_t total = m * c;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total; e += stride) {
    const int64_t ch = e % c;
    float v = static_cast<float>(static_cast<double>(x[e]) * coef[ch] + coef[c + ch]);
    if constexpr (RELU) v = v > 0.0f ? v : 0.0f;
    y[e] = v;
  }
}

// stats (2, C) = (mean, inv_std) in double: from the saved batch statistics (train) or from the
// running ones (infer: inv_std = 1 / sqrt(moving_var + eps)).
__global__ void stats_for_backward_kernel(const float* __restrict__ mean_in, const float* __restrict__ second_in,
                                          bool from_running, double epsilon, int64_t c, double* __restrict__ stats) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t ch = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; ch < c; ch += stride) {
    stats[ch] = static_cast<double>(mean_in[ch]);
    stats[c + ch] = from_running ? 1.0 / sqrt(static_cast<double>(second_in[ch]) + epsilon)
                                 : static_cast<double>(second_in[ch]);
  }
}

// Sums of g and g * x_hat per channel.
template <GradMode MODE>
__global__ void backward_sums_kernel(const float* __restrict__ x,      // (M, C)
                                     GradSource src,
                                     const double* __restrict__ stats, // (2, C)
                                     double* __restrict__ partials,    // (R, 2, C)
                                     int64_t m, int64_t c) {
  const int64_t ch = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  double acc[2] = {0.0, 0.0};
  if (ch < c) {
    const double mean = stats[ch], inv_std = stats[c + ch];
    const int64_t step = static_cast<int64_t>(gridDim.y) * kRowLanes;
    for (int64_t r = static_cast<int64_t>(blockIdx.y) * kRowLanes + threadIdx.y; r < m; r += step) {
      const double g = static_cast<double>(grad_at<MODE>(src, r, ch, c));
      const double xh = (static_cast<double>(x[r * c + ch]) - mean) * inv_std;
      acc[0] += g;
      acc[1] += g * xh;
    }
  }
  reduce_block_store<2>(acc, partials, c, ch);
}

// dbeta, dgamma, and coef = (k, A, B) for the dx pass.
__global__ void backward_finalize_kernel(const double* __restrict__ partials, int rows, int64_t m, int64_t c,
                                         bool train, const float* __restrict__ gamma,
                                         const double* __restrict__ stats, float* __restrict__ dgamma,
                                         float* __restrict__ dbeta, double* __restrict__ coef) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t ch = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; ch < c; ch += stride) {
    const double sdy = reduce_partials<2>(partials, rows, 0, c, ch);
    const double sdyxh = reduce_partials<2>(partials, rows, 1, c, ch);
    dbeta[ch] = static_cast<float>(sdy);
    dgamma[ch] = static_cast<float>(sdyxh);
    const double inv_m = 1.0 / static_cast<double>(m);
    coef[ch] = static_cast<double>(gamma[ch]) * stats[c + ch];
    coef[c + ch] = train ? sdy * inv_m : 0.0;
    coef[2 * c + ch] = train ? sdyxh * inv_m : 0.0;
  }
}

template <GradMode MODE>
__global__ void backward_dx_kernel(const float* __restrict__ x,       // (M, C)
                                   GradSource src,
                                   const double* __restrict__ stats,  // (2, C)
                                   const double* __restrict__ coef,   // (3, C)
                                   float* dx,                         // (M, C); may alias src.dy in plain mode
                                   int64_t m, int64_t c) {
  const int64_t total = m * c;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total; e += stride) {
    const int64_t ch = e % c, r = e / c;
    const double g = static_cast<double>(grad_at<MODE>(src, r, ch, c));
    const double xh = (static_cast<double>(x[e]) - stats[ch]) * stats[c + ch];
    dx[e] = static_cast<float>(coef[ch] * (g - coef[c + ch] - xh * coef[2 * c + ch]));
  }
}

// Host side: the statistics and finalisation of a training forward (leaves scale, shift in coef).
void forward_train_stats(const float* x, int64_t m, int64_t c, const float* gamma, const float* beta,
                                float* moving_mean, float* moving_var, double momentum, double epsilon,
                                float* save_mean, float* save_inv_std, const Workspace& w, cudaStream_t stream) {
  stats_kernel<<<reduce_grid(m, c), reduce_block(), 0, stream>>>(x, w.partials, m, c);
  KN_CUDA_CHECK_LAUNCH();
  forward_finalize_kernel<<<grid_for(c), kBlock, 0, stream>>>(x, w.partials, w.rows, m, c, gamma, beta, moving_mean,
                                                              moving_var, momentum, epsilon, save_mean, save_inv_std,
                                                              w.coef);
  KN_CUDA_CHECK_LAUNCH();
}

void forward_infer_affine(int64_t c, const float* gamma, const float* beta, const float* moving_mean,
                                 const float* moving_var, double epsilon, const Workspace& w, cudaStream_t stream) {
  infer_affine_kernel<<<grid_for(c), kBlock, 0, stream>>>(gamma, beta, moving_mean, moving_var, epsilon, c, w.coef);
  KN_CUDA_CHECK_LAUNCH();
}

// Host side: the whole backward for one GradMode. train: gradients through the batch statistics
// (mean_in, second_in = saved mean, inv_std); else through constants (mean_in, second_in =
// moving mean, moving variance). dx may be null.
template <GradMode MODE>
void backward(const float* x, const GradSource& src, float* dx, int64_t m, int64_t c, const float* gamma,
              const float* mean_in, const float* second_in, bool train, double epsilon, float* dgamma, float* dbeta,
              const Workspace& w, cudaStream_t stream) {
  stats_for_backward_kernel<<<grid_for(c), kBlock, 0, stream>>>(mean_in, second_in, !train, epsilon, c, w.stats);
  KN_CUDA_CHECK_LAUNCH();
  backward_sums_kernel<MODE><<<reduce_grid(m, c), reduce_block(), 0, stream>>>(x, src, w.stats, w.partials, m, c);
  KN_CUDA_CHECK_LAUNCH();
  backward_finalize_kernel<<<grid_for(c), kBlock, 0, stream>>>(w.partials, w.rows, m, c, train, gamma, w.stats,
                                                               dgamma, dbeta, w.coef);
  KN_CUDA_CHECK_LAUNCH();
  if (!dx) return;
  backward_dx_kernel<MODE><<<grid_for(m * c), kBlock, 0, stream>>>(x, src, w.stats, w.coef, dx, m, c);
  KN_CUDA_CHECK_LAUNCH();
}

}  // namespace

}  // namespace knotnet::cuda::bn
