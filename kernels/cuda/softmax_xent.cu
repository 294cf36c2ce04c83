// Softmax + cross-entropy on the GPU. One thread owns one row (K is small: 3 classes here);
// the fused kernel runs as a single block so that the batch's loss and correct count are
// reduced in shared memory in a fixed order and written once: no atomics, no second launch,
// reproducible sums. Non-obvious choice: probabilities are formed exactly as the CPU reference
// forms them (each exponential rounded to float, then scaled by the double 1/sum), and the
// loss and gradient are computed from those stored floats, so the GPU's probabilities match the
// CPU's to the last bit whenever the exponentials do.
#include "kernels/cuda/softmax_xent.h"

#include <cfloat>

#include "engine/cuda_check.h"
#include "kernels/cuda/launch.h"

namespace knotnet::cuda {

namespace {

constexpr int kXentThreads = 256;

__device__ void softmax_row(const float* __restrict__ z, float* __restrict__ p, int64_t k) {
  float zmax = z[0];
  for (int64_t j = 1; j < k; ++j) zmax = fmaxf(zmax, z[j]);
  double sum = 0.0;
  for (int64_t j = 0; j < k; ++j) {
    const double e = exp(static_cast<double>(z[j]) - static_cast<double>(zmax));
    p[j] = static_cast<float>(e);
    sum += e;
  }
  const double inv = 1.0 / sum;
  for (int64_t j = 0; j < k; ++j) p[j] = static_cast<float>(static_cast<double>(p[j]) * inv);
}

__device__ int64_t argmax_row(const float* row, int64_t k) {
  int64_t best = 0;
  for (int64_t j = 1; j < k; ++j)
    if (row[j] > row[best]) best = j;
  return best;
}

// Loss and gradient of one row from its probabilities; returns the row's loss.
__device__ double xent_row(const float* __restrict__ p, const float* __restrict__ t, float* __restrict__ d, int64_t k,
                           double inv_n, bool* correct) {
  double loss = 0.0;
  for (int64_t j = 0; j < k; ++j) {
    if (t[j] == 0.0f) continue;
    // Clamped as the CPU's std::max clamps: a NaN probability stays NaN (fmax would drop it and
    // hide a diverged run behind a finite loss).
    const double pj = static_cast<double>(p[j]);
    loss -= static_cast<double>(t[j]) * log(pj < static_cast<double>(FLT_MIN) ? static_cast<double>(FLT_MIN) : pj);
  }
  *correct = argmax_row(p, k) == argmax_row(t, k);
  if (d)
    for (int64_t j = 0; j < k; ++j)
      d[j] = static_cast<float>((static_cast<double>(p[j]) - static_cast<double>(t[j])) * inv_n);
  return loss;
}

__global__ void softmax_kernel(const float* __restrict__ logits,  // (N, K)
                               float* __restrict__ probs,         // (N, K)
                               int64_t n, int64_t k) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
    softmax_row(logits + i * k, probs + i * k, k);
}

// One block of kXentThreads. FUSED: compute probs from logits first.
template <bool FUSED>
__global__ void xent_kernel(const float* __restrict__ logits,   // (N, K), FUSED only
                            float* __restrict__ probs,          // (N, K): written if FUSED, else read
                            const float* __restrict__ targets,  // (N, K)
                            float* __restrict__ dlogits,        // (N, K) or null
                            int64_t n, int64_t k, double* __restrict__ out) {
  __shared__ double loss_sh[kXentThreads];
  __shared__ double correct_sh[kXentThreads];
  const double inv_n = 1.0 / static_cast<double>(n);
  double loss = 0.0, correct = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    if constexpr (FUSED) softmax_row(logits + i * k, probs + i * k, k);
    bool ok = false;
    loss += xent_row(probs + i * k, targets + i * k, dlogits ? dlogits + i * k : nullptr, k, inv_n, &ok);
    correct += ok ? 1.0 : 0.0;
  }
  loss_sh[threadIdx.x] = loss;
  correct_sh[threadIdx.x] = correct;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) {
      loss_sh[threadIdx.x] += loss_sh[threadIdx.x + half];
      correct_sh[threadIdx.x] += correct_sh[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out[0] = loss_sh[0];
    out[1] = correct_sh[0];
  }
}

}  // namespace

void softmax_forward(const float* logits, float* probs, int64_t n, int64_t k, cudaStream_t stream) {
  if (n <= 0 || k <= 0) return;
  softmax_kernel<<<grid_for(n), kBlock, 0, stream>>>(logits, probs, n, k);
  KN_CUDA_CHECK_LAUNCH();
}

void xent_from_probs(const float* probs, const float* targets, float* dlogits, int64_t n, int64_t k, double* out,
                     cudaStream_t stream) {
  if (n <= 0 || k <= 0) {
    KN_CUDA_CHECK(cudaMemsetAsync(out, 0, 2 * sizeof(double), stream));
    return;
  }
  xent_kernel<false><<<1, kXentThreads, 0, stream>>>(nullptr, const_cast<float*>(probs), targets, dlogits, n, k, out);
  KN_CUDA_CHECK_LAUNCH();
}

void softmax_xent(const float* logits, const float* targets, float* probs, float* dlogits, int64_t n, int64_t k,
                  double* out, cudaStream_t stream) {
  if (n <= 0 || k <= 0) {
    KN_CUDA_CHECK(cudaMemsetAsync(out, 0, 2 * sizeof(double), stream));
    return;
  }
  xent_kernel<true><<<1, kXentThreads, 0, stream>>>(logits, probs, targets, dlogits, n, k, out);
  KN_CUDA_CHECK_LAUNCH();
}

}  // namespace knotnet::cuda
