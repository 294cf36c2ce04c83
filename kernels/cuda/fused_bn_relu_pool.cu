// Fused batch-norm + ReLU (+ 2x2 max-pool) forward and backward on the GPU (see the header for
// what is saved and why). The forward's pooled kernel applies BN's affine and the ReLU to the
// four inputs of a window and keeps the maximum and its position, with the same float values
// and the same first-wins tie rule as the unfused chain, so the argmax matches it exactly.
// Non-obvious choice: backward needs no mask of its own. The ReLU passed a gradient exactly
// where its output is positive, and after pooling that output is the pooled value at the
// recorded argmax, so the gradient reaching BN is recomputed per input element from (argmax,
// pooled y, pooled dy): a quarter-size read instead of two full-size intermediate tensors.
#include "kernels/cuda/fused_bn_relu_pool.h"

#include "kernels/cuda/bn_common.cuh"

namespace knotnet::cuda {

namespace {

__global__ void bn_relu_pool_apply_kernel(const float* __restrict__ x,       // (N, H, W, C)
                                          const double* __restrict__ coef,   // (2, C): scale, shift
                                          float* __restrict__ y,             // (N, OH, OW, C)
                                          uint8_t* __restrict__ argmax,      // (N, OH, OW, C)
                                          int64_t n, int64_t h, int64_t w, int64_t c) {
  const int64_t total = n * (h / 2) * (w / 2) * c;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < total; o += stride) {
    const int64_t ch = o % c;
    const double scale = coef[ch], shift = coef[c + ch];
    const float* p0 = x + pool2_window_origin(o, h, w, c);
    const float* corner[4] = {p0, p0 + c, p0 + w * c, p0 + w * c + c};
    float best = 0.0f;
    uint8_t at = 0;
    for (int q = 0; q < 4; ++q) {
      float v = static_cast<float>(static_cast<double>(*corner[q]) * scale + shift);
      v = v > 0.0f ? v : 0.0f;
      if (q == 0 || v > best) {
        best = v;
        at = static_cast<uint8_t>(q);
      }
    }
    y[o] = best;
    argmax[o] = at;
  }
}

void bn_stats_or_affine(const float* x, int64_t m, int64_t c, const BnParams& p, const bn::Workspace& w,
                        cudaStream_t stream) {
  if (p.train)
    bn::forward_train_stats(x, m, c, p.gamma, p.beta, p.moving_mean, p.moving_var, p.momentum, p.epsilon,
                            p.save_mean, p.save_inv_std, w, stream);
  else
    bn::forward_infer_affine(c, p.gamma, p.beta, p.moving_mean, p.moving_var, p.epsilon, w, stream);
}

void zero_param_grads(float* dgamma, float* dbeta, int64_t c, cudaStream_t stream) {
  KN_CUDA_CHECK(cudaMemsetAsync(dgamma, 0, static_cast<size_t>(c) * sizeof(float), stream));
  KN_CUDA_CHECK(cudaMemsetAsync(dbeta, 0, static_cast<size_t>(c) * sizeof(float), stream));
}

}  // namespace

void bn_relu_forward(const float* x, float* y, int64_t m, int64_t c, const BnParams& p, double* work,
                     cudaStream_t stream) {
  if (m <= 0 || c <= 0) return;
  const bn::Workspace w = bn::split(work, m, c);
  bn_stats_or_affine(x, m, c, p, w, stream);
  bn::apply_kernel<true><<<grid_for(m * c), kBlock, 0, stream>>>(x, y, w.coef, m, c);
  KN_CUDA_CHECK_LAUNCH();
}

void bn_relu_pool_forward(const float* x, float* y, uint8_t* argmax, int64_t n, int64_t h, int64_t w, int64_t c,
                          const BnParams& p, double* work, cudaStream_t stream) {
  const int64_t m = n * h * w;
  if (m <= 0 || c <= 0) return;
  const bn::Workspace ws = bn::split(work, m, c);
  bn_stats_or_affine(x, m, c, p, ws, stream);
  const int64_t pooled = n * (h / 2) * (w / 2) * c;
  if (pooled <= 0) return;
  bn_relu_pool_apply_kernel<<<grid_for(pooled), kBlock, 0, stream>>>(x, ws.coef, y, argmax, n, h, w, c);
  KN_CUDA_CHECK_LAUNCH();
}

void bn_relu_backward(const float* x, const float* y, const float* dy, float* dx, int64_t m, int64_t c,
                      const float* gamma, const float* save_mean, const float* save_inv_std, float* dgamma,
                      float* dbeta, double* work, cudaStream_t stream) {
  if (c <= 0) return;
  if (m <= 0) return zero_param_grads(dgamma, dbeta, c, stream);
  bn::GradSource src;
  src.dy = dy;
  src.y = y;
  bn::backward<bn::GradMode::relu>(x, src, dx, m, c, gamma, save_mean, save_inv_std, true, 0.0, dgamma, dbeta,
                                   bn::split(work, m, c), stream);
}

void bn_relu_pool_backward(const float* x, const float* y, const uint8_t* argmax, const float* dy, float* dx,
                           int64_t n, int64_t h, int64_t w, int64_t c, const float* gamma, const float* save_mean,
                           const float* save_inv_std, float* dgamma, float* dbeta, double* work, cudaStream_t stream) {
  const int64_t m = n * h * w;
  if (c <= 0) return;
  if (m <= 0) return zero_param_grads(dgamma, dbeta, c, stream);
  bn::GradSource src;
  src.dy = dy;
  src.y = y;
  src.argmax = argmax;
  src.h = h;
  src.w = w;
  bn::backward<bn::GradMode::relu_pool>(x, src, dx, m, c, gamma, save_mean, save_inv_std, true, 0.0, dgamma, dbeta,
                                        bn::split(work, m, c), stream);
}

}  // namespace knotnet::cuda
