// Column sums on the GPU: the bias gradient of a convolution or dense layer, db[f] = sum over
// the batch (and positions) of dy[.., f]. Deterministic (no atomics), summed in double.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace knotnet::cuda {

// Doubles of workspace column_sums needs for an (m, c) input.
int64_t column_sums_workspace(int64_t m, int64_t c);

// x: (M, C) -> out: (C), out[ch] = sum_r x[r, ch], OVERWRITTEN. work: column_sums_workspace(m, c)
// doubles. m == 0 gives zeros.
void column_sums(const float* x, float* out, int64_t m, int64_t c, double* work, cudaStream_t stream);

}  // namespace knotnet::cuda
