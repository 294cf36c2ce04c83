// Column sums (bias gradients) on the GPU: a deterministic two-stage reduction (reduce.cuh).
// Non-obvious choice: partial sums are doubles even though inputs and outputs are floats; a
// conv layer's bias gradient adds N*OH*OW (~800,000) terms, and the CPU reference sums in
// double too, so the two agree to float rounding.
#include "kernels/cuda/reduce.h"

#include "engine/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/reduce.cuh"

namespace knotnet::cuda {

namespace {

__global__ void column_partials_kernel(const float* __restrict__ x,  // (M, C)
                                       double* __restrict__ partials, // (R, 1, C)
                                       int64_t m, int64_t c) {
  const int64_t ch = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  double acc[1] = {0.0};
  if (ch < c) {
    const int64_t step = static_cast<int64_t>(gridDim.y) * kRowLanes;
    for (int64_t r = static_cast<int64_t>(blockIdx.y) * kRowLanes + threadIdx.y; r < m; r += step)
      acc[0] += static_cast<double>(x[r * c + ch]);
  }
  reduce_block_store<1>(acc, partials, c, ch);
}

__global__ void column_finalize_kernel(const double* __restrict__ partials,  // (R, 1, C)
                                       float* __restrict__ out,               // (C)
                                       int rows, int64_t c) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t ch = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; ch < c; ch += stride)
    out[ch] = static_cast<float>(reduce_partials<1>(partials, rows, 0, c, ch));
}

}  // namespace

int64_t column_sums_workspace(int64_t m, int64_t c) { return static_cast<int64_t>(reduce_row_blocks(m)) * c; }

void column_sums(const float* x, float* out, int64_t m, int64_t c, double* work, cudaStream_t stream) {
  if (c <= 0) return;
  if (m <= 0) {
    KN_CUDA_CHECK(cudaMemsetAsync(out, 0, static_cast<size_t>(c) * sizeof(float), stream));
    return;
  }
  const dim3 grid = reduce_grid(m, c);
  column_partials_kernel<<<grid, reduce_block(), 0, stream>>>(x, work, m, c);
  KN_CUDA_CHECK_LAUNCH();
  column_finalize_kernel<<<grid_for(c), kBlock, 0, stream>>>(work, out, static_cast<int>(grid.y), c);
  KN_CUDA_CHECK_LAUNCH();
}

}  // namespace knotnet::cuda
