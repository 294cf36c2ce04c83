// Fused optimizer updates over flat (P) buffers: one grid-stride launch per step.
// Non-obvious choice: every expression is written in the CPU reference's order with plain float
// operators, and nvcc contracts a*b+c into FMAs by default, so a result may differ from the CPU
// by about one rounding per operation; the tests allow 1e-5 relative after one step. Division
// and sqrtf stay IEEE round-to-nearest (nvcc's defaults without --use_fast_math).
#include "kernels/cuda/optim.h"

#include "engine/cuda_check.h"
#include "kernels/cuda/launch.h"

namespace knotnet::cuda {

namespace {

#define KN_GRID_STRIDE(i, n)                                                                       \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n);           \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

__global__ void sgd_kernel(float* __restrict__ p, const float* __restrict__ g, int64_t n, float a) {
  KN_GRID_STRIDE(i, n) p[i] -= a * g[i];
}

__global__ void sgd_momentum_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ v,
                                    int64_t n, float a, float mu, bool nesterov) {
  KN_GRID_STRIDE(i, n) {
    const float gi = g[i];
    const float vi = mu * v[i] - a * gi;
    v[i] = vi;
    p[i] += nesterov ? mu * vi - a * gi : vi;
  }
}

__global__ void adagrad_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ acc,
                               int64_t n, float a, float e) {
  KN_GRID_STRIDE(i, n) {
    const float gi = g[i];
    const float ai = acc[i] + gi * gi;
    acc[i] = ai;
    p[i] -= a * gi / sqrtf(ai + e);
  }
}

__global__ void rmsprop_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ ms,
                               float* __restrict__ mom, int64_t n, float a, float r, float r1, float mu, float e) {
  KN_GRID_STRIDE(i, n) {
    const float gi = g[i];
    const float si = r * ms[i] + r1 * (gi * gi);
    ms[i] = si;
    if (mom) {
      const float mi = mu * mom[i] + a * gi / sqrtf(si + e);
      mom[i] = mi;
      p[i] -= mi;
    } else {
      p[i] -= a * gi / sqrtf(si + e);
    }
  }
}

__global__ void adam_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                            float* __restrict__ v, int64_t n, float al, float b1, float b2, float e) {
  KN_GRID_STRIDE(i, n) {
    const float gi = g[i];
    const float mi = m[i] + (gi - m[i]) * b1;
    const float vi = v[i] + (gi * gi - v[i]) * b2;
    m[i] = mi;
    v[i] = vi;
    p[i] -= al * mi / (sqrtf(vi) + e);
  }
}

#undef KN_GRID_STRIDE

}  // namespace

void sgd_step(float* p, const float* g, int64_t n, double lr, cudaStream_t stream) {
  if (n <= 0) return;
  sgd_kernel<<<grid_for(n), kBlock, 0, stream>>>(p, g, n, static_cast<float>(lr));
  KN_CUDA_CHECK_LAUNCH();
}

void sgd_momentum_step(float* p, const float* g, float* v, int64_t n, double lr, double momentum, bool nesterov,
                       cudaStream_t stream) {
  if (n <= 0) return;
  sgd_momentum_kernel<<<grid_for(n), kBlock, 0, stream>>>(p, g, v, n, static_cast<float>(lr),
                                                          static_cast<float>(momentum), nesterov);
  KN_CUDA_CHECK_LAUNCH();
}

void adagrad_step(float* p, const float* g, float* acc, int64_t n, double lr, double eps, cudaStream_t stream) {
  if (n <= 0) return;
  adagrad_kernel<<<grid_for(n), kBlock, 0, stream>>>(p, g, acc, n, static_cast<float>(lr), static_cast<float>(eps));
  KN_CUDA_CHECK_LAUNCH();
}

void rmsprop_step(float* p, const float* g, float* ms, float* mom, int64_t n, double lr, double rho, double momentum,
                  double eps, cudaStream_t stream) {
  if (n <= 0) return;
  rmsprop_kernel<<<grid_for(n), kBlock, 0, stream>>>(p, g, ms, mom, n, static_cast<float>(lr),
                                                     static_cast<float>(rho), static_cast<float>(1.0 - rho),
                                                     static_cast<float>(momentum), static_cast<float>(eps));
  KN_CUDA_CHECK_LAUNCH();
}

void adam_step(float* p, const float* g, float* m, float* v, int64_t n, double alpha, double beta1, double beta2,
               double eps, cudaStream_t stream) {
  if (n <= 0) return;
  adam_kernel<<<grid_for(n), kBlock, 0, stream>>>(p, g, m, v, n, static_cast<float>(alpha),
                                                  static_cast<float>(1.0 - beta1), static_cast<float>(1.0 - beta2),
                                                  static_cast<float>(eps));
  KN_CUDA_CHECK_LAUNCH();
}

}  // namespace knotnet::cuda
