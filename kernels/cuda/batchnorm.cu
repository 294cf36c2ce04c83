// Batch normalisation forward and backward on the GPU, unfused (the reference path the fused
// kernels are tested against, and the path for BN not followed by ReLU).
// Non-obvious choice: statistics are one pass of shifted sums, sum(x - K) and sum((x - K)^2)
// with K = the channel's first value, accumulated in double, instead of the CPU's two passes
// (mean, then squared deviations): half the reads of x, and the shift keeps the variance
// accurate even when a channel's mean is large against its spread.
#include "kernels/cuda/batchnorm.h"

#include "kernels/cuda/bn_common.cuh"

namespace knotnet::cuda {

int64_t batchnorm_workspace(int64_t m, int64_t c) { return bn::workspace_doubles(m, c); }

void batchnorm_forward_train(const float* x, float* y, int64_t m, int64_t c, const float* gamma, const float* beta,
                             float* moving_mean, float* moving_var, double momentum, double epsilon, float* save_mean,
                             float* save_inv_std, double* work, cudaStream_t stream) {
  KN_CHECK(m > 0 && c > 0, "batchnorm_forward_train: empty input (", m, " rows, ", c, " channels)");
  const bn::Workspace w = bn::split(work, m, c);
  bn::forward_train_stats(x, m, c, gamma, beta, moving_mean, moving_var, momentum, epsilon, save_mean, save_inv_std, w,
                          stream);
  bn::apply_kernel<false><<<grid_for(m * c), kBlock, 0, stream>>>(x, y, w.coef, m, c);
  KN_CUDA_CHECK_LAUNCH();
}

void batchnorm_forward_infer(const float* x, float* y, int64_t m, int64_t c, const float* gamma, const float* beta,
                             const float* moving_mean, const float* moving_var, double epsilon, double* work,
                             cudaStream_t stream) {
  if (m <= 0 || c <= 0) return;
  const bn::Workspace w = bn::split(work, m, c);
  bn::forward_infer_affine(c, gamma, beta, moving_mean, moving_var, epsilon, w, stream);
  bn::apply_kernel<false><<<grid_for(m * c), kBlock, 0, stream>>>(x, y, w.coef, m, c);
  KN_CUDA_CHECK_LAUNCH();
}

namespace {
void zero_param_grads(float* dgamma, float* dbeta, int64_t c, cudaStream_t stream) {
  KN_CUDA_CHECK(cudaMemsetAsync(dgamma, 0, static_cast<size_t>(c) * sizeof(float), stream));
  KN_CUDA_CHECK(cudaMemsetAsync(dbeta, 0, static_cast<size_t>(c) * sizeof(float), stream));
}
}  // namespace

void batchnorm_backward_train(const float* x, const float* dy, float* dx, int64_t m, int64_t c, const float* gamma,
                              const float* save_mean, const float* save_inv_std, float* dgamma, float* dbeta,
                              double* work, cudaStream_t stream) {
  if (c <= 0) return;
  if (m <= 0) return zero_param_grads(dgamma, dbeta, c, stream);
  bn::GradSource src;
  src.dy = dy;
  bn::backward<bn::GradMode::plain>(x, src, dx, m, c, gamma, save_mean, save_inv_std, true, 0.0, dgamma, dbeta,
                                    bn::split(work, m, c), stream);
}

void batchnorm_backward_infer(const float* x, const float* dy, float* dx, int64_t m, int64_t c, const float* gamma,
                              const float* moving_mean, const float* moving_var, double epsilon, float* dgamma,
                              float* dbeta, double* work, cudaStream_t stream) {
  if (c <= 0) return;
  if (m <= 0) return zero_param_grads(dgamma, dbeta, c, stream);
  bn::GradSource src;
  src.dy = dy;
  bn::backward<bn::GradMode::plain>(x, src, dx, m, c, gamma, moving_mean, moving_var, false, epsilon, dgamma, dbeta,
                                    bn::split(work, m, c), stream);
}

}  // namespace knotnet::cuda
