// Deterministic column reductions over an (M, C) row-major matrix (NHWC activations seen as
// M = N*H*W rows of C channels), shared by the bias-gradient, batch-norm and fused kernels.
//
// Shape of the work: a block is kColTile channels (threadIdx.x) by kRowLanes row lanes
// (threadIdx.y); the grid is (ceil(C / kColTile), R) with R = reduce_row_blocks(M). Each thread
// sums its channel over rows r = blockIdx.y * kRowLanes + threadIdx.y + k * R * kRowLanes, in
// double; the block then adds its kRowLanes lanes in a fixed order and writes one partial per
// channel to partials (R, NV, C); a second kernel adds the R partials in order. Nothing uses
// atomics, so a sum depends only on M and C, never on scheduling: runs are reproducible.
// Consecutive threads of a warp read consecutive channels of one row, so loads are coalesced
// whenever C >= 32.
#pragma once

#include <algorithm>
#include <cstdint>

namespace knotnet::cuda {

constexpr int kColTile = 32;
constexpr int kRowLanes = 8;
constexpr int kMaxRowBlocks = 512;

// R for M rows: enough blocks to keep the card busy, each thread summing at least ~16 rows.
inline int reduce_row_blocks(int64_t m) {
  const int64_t want = (m + kRowLanes * 16 - 1) / (kRowLanes * 16);
  return static_cast<int>(std::clamp<int64_t>(want, 1, kMaxRowBlocks));
}

inline dim3 reduce_grid(int64_t m, int64_t c) {
  return dim3(static_cast<unsigned>((c + kColTile - 1) / kColTile), static_cast<unsigned>(reduce_row_blocks(m)));
}

inline dim3 reduce_block() { return dim3(kColTile, kRowLanes); }

// Every thread of the block must call this (it synchronises). acc: this thread's NV sums for
// channel ch (zeros when ch >= c). Writes partials[(blockIdx.y * NV + v) * c + ch].
template <int NV>
__device__ void reduce_block_store(const double (&acc)[NV], double* __restrict__ partials, int64_t c, int64_t ch) {
  __shared__ double lanes[NV][kRowLanes][kColTile];
  for (int v = 0; v < NV; ++v) lanes[v][threadIdx.y][threadIdx.x] = acc[v];
  __syncthreads();
  if (threadIdx.y == 0 && ch < c) {
    for (int v = 0; v < NV; ++v) {
      double s = 0.0;
      for (int r = 0; r < kRowLanes; ++r) s += lanes[v][r][threadIdx.x];
      partials[(static_cast<int64_t>(blockIdx.y) * NV + v) * c + ch] = s;
    }
  }
}

// Sum of the R partials of value v for channel ch, in order.
template <int NV>
__device__ double reduce_partials(const double* __restrict__ partials, int rows, int v, int64_t c, int64_t ch) {
  double s = 0.0;
  for (int b = 0; b < rows; ++b) s += partials[(static_cast<int64_t>(b) * NV + v) * c + ch];
  return s;
}

}  // namespace knotnet::cuda
