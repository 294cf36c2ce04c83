// Softmax and categorical cross-entropy on the GPU (device side of kernels/cpu/softmax_xent.h),
// rows of K classes. Targets are (N, K) rows (one-hot or soft); the model turns class indices
// into one-hot rows on the device when it loads a batch.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace knotnet::cuda {

// logits: (N, K) -> probs: (N, K), stable (shifted by the row maximum), exponentials in double.
void softmax_forward(const float* logits, float* probs, int64_t n, int64_t k, cudaStream_t stream);

// probs, targets: (N, K). out: 2 doubles on the device, OVERWRITTEN: out[0] = sum over rows of
// -sum_k t log(max(p, FLT_MIN)), out[1] = rows whose arg-max p equals the arg-max t (first on
// ties). dlogits: (N, K) or null, receives (p - t) / N.
void xent_from_probs(const float* probs, const float* targets, float* dlogits, int64_t n, int64_t k, double* out,
                     cudaStream_t stream);

// Both in one launch: logits -> probs, the sums and dlogits (may be null).
void softmax_xent(const float* logits, const float* targets, float* probs, float* dlogits, int64_t n, int64_t k,
                  double* out, cudaStream_t stream);

}  // namespace knotnet::cuda
