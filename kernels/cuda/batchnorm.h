// Batch normalisation on the GPU (device side of kernels/cpu/batchnorm.h) over M rows of C
// channels: x is (N, H, W, C) seen as (M, C), or (N, F) seen as (M = N, C = F). Same formulas:
// biased batch variance, Keras running-statistics update, gradients through the batch
// statistics in training mode. Every launcher also takes a double workspace of
// batchnorm_workspace(m, c) elements (per-block partial sums and per-channel coefficients).
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace knotnet::cuda {

// Doubles of workspace any batchnorm_* launcher (and the fused ones) needs for (m, c).
int64_t batchnorm_workspace(int64_t m, int64_t c);

// x: (M, C) -> y: (M, C) (y may alias x). gamma, beta: (C). moving_mean, moving_var: (C),
// updated in place. save_mean, save_inv_std: (C), written for backward.
void batchnorm_forward_train(const float* x, float* y, int64_t m, int64_t c, const float* gamma, const float* beta,
                             float* moving_mean, float* moving_var, double momentum, double epsilon, float* save_mean,
                             float* save_inv_std, double* work, cudaStream_t stream);

// Inference with the running statistics. x: (M, C) -> y: (M, C).
void batchnorm_forward_infer(const float* x, float* y, int64_t m, int64_t c, const float* gamma, const float* beta,
                             const float* moving_mean, const float* moving_var, double epsilon, double* work,
                             cudaStream_t stream);

// Training-mode gradients. x, dy: (M, C). Overwrites dgamma, dbeta: (C), and dx: (M, C) unless
// dx is null (dx may alias dy).
void batchnorm_backward_train(const float* x, const float* dy, float* dx, int64_t m, int64_t c, const float* gamma,
                              const float* save_mean, const float* save_inv_std, float* dgamma, float* dbeta,
                              double* work, cudaStream_t stream);

// Inference-mode gradients (running statistics are constants).
void batchnorm_backward_infer(const float* x, const float* dy, float* dx, int64_t m, int64_t c, const float* gamma,
                              const float* moving_mean, const float* moving_var, double epsilon, float* dgamma,
                              float* dbeta, double* work, cudaStream_t stream);

}  // namespace knotnet::cuda
