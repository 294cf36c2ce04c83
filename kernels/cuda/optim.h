// Optimizer updates on the GPU (device side of kernels/cpu/optim.h): one fused launch over the
// flat parameter buffer per step. Same formulas and the same float arithmetic order as the CPU
// reference, hyper-parameters cast to float once on the host.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace knotnet::cuda {

// p, g: (n)
void sgd_step(float* p, const float* g, int64_t n, double lr, cudaStream_t stream);
// p, g, v: (n)
void sgd_momentum_step(float* p, const float* g, float* v, int64_t n, double lr, double momentum, bool nesterov,
                       cudaStream_t stream);
// p, g, acc: (n)
void adagrad_step(float* p, const float* g, float* acc, int64_t n, double lr, double eps, cudaStream_t stream);
// p, g, ms: (n); mom: (n) or null when momentum is 0.
void rmsprop_step(float* p, const float* g, float* ms, float* mom, int64_t n, double lr, double rho, double momentum,
                  double eps, cudaStream_t stream);
// p, g, m, v: (n). alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t), computed by the caller.
void adam_step(float* p, const float* g, float* m, float* v, int64_t n, double alpha, double beta1, double beta2,
               double eps, cudaStream_t stream);

}  // namespace knotnet::cuda
