// The tiled SGEMM core shared by dense_sgemm.cu and conv_implicit_gemm.cu:
//   C (M, N) = A (M, K) * B (K, N)
// where A and B are not matrices in memory but loaders, a(m, k) and b(k, n), so the same
// kernel runs a plain GEMM (strided loads) and an implicit-GEMM convolution (im2col computed on
// the fly, never stored). Results go to a store functor.
//
// Tiling: a block of 256 threads computes a 64 x 64 tile of C; each step stages a 64 x 16 slab
// of A and a 16 x 64 slab of B in shared memory (zero-filled outside the matrices), then each
// thread accumulates a 4 x 4 sub-tile in registers: rows ty + 16 i, columns tx + 16 j, the
// strided layout making every shared-memory read in the inner loop either a broadcast or 16
// consecutive words (no bank conflicts). Loaders say which index should vary fastest across
// threads (k_fast) so that global loads are coalesced for their layout.
//
// Cursors: each thread stages the same 4 (row, k) slots of A, and of B, at every K step, k moving
// by kTileK. A loader whose element index is costly to take apart (an implicit-GEMM loader
// divides a flat index into image, row, column and channel) defines a Cursor: start(mn, k) takes
// the index apart once per slot per tile, load(cursor) reads the element, next(cursor, step) moves
// it along K with additions and compares. Other loaders are called as a(row, k) / b(k, col) at
// every element. Either way the same values are loaded, so results do not depend on it.
//
// Split-K: when the output has too few tiles to fill the card (a dense layer's (128, 128)
// output with K = 25,088, a convolution's weight gradient with K = N*OH*OW), gridDim.z slices K
// into chunks; each slice writes its partial tile to a float workspace (splits, M, N), and a
// second kernel adds the slices in order (deterministic) and applies the final store.
#pragma once

#include <algorithm>
#include <cstdint>

#include "engine/cuda_check.h"
#include "kernels/cuda/launch.h"

namespace knotnet::cuda::gemm {

constexpr int kTileM = 64;
constexpr int kTileN = 64;
constexpr int kTileK = 16;
constexpr int kThreads = 256;
constexpr int kTargetBlocks = 2 * 132;   // two waves of an H100/H200's 132 SMs
constexpr int64_t kMinSplitK = 256;      // each K slice at least this long
constexpr int kMaxSplits = 256;

// Writes partial tiles of slice z to ws (splits, M, N).
struct PartialStore {
  float* ws;
  int64_t m, n;
  __device__ void operator()(int z, int64_t i, int64_t j, float v) const { ws[(z * m + i) * n + j] = v; }
};

// The plain cursor: the loader's operator() at every element, with the k the core computes.
struct PlainCursor {
  int64_t mn;
};

template <class L>
concept HasCursor = requires { typename L::Cursor; };

// For A, mn is the row and the loader is called a(mn, k); for B, the column: b(k, mn).
template <bool kIsA, class L>
__device__ __forceinline__ auto cursor_start(const L& l, int64_t mn, int64_t k) {
  if constexpr (HasCursor<L>)
    return l.start(mn, k);
  else
    return PlainCursor{mn};
}

// k: the element's index along K (a cursor knows it already).
template <bool kIsA, class L, class C>
__device__ __forceinline__ float cursor_load(const L& l, const C& c, int64_t k) {
  if constexpr (HasCursor<L>)
    return l.load(c);
  else if constexpr (kIsA)
    return l(c.mn, k);
  else
    return l(k, c.mn);
}

template <class L, class C>
__device__ __forceinline__ void cursor_next(const L& l, C& c, int step) {
  if constexpr (HasCursor<L>) l.next(c, step);
}

template <class LoadA, class LoadB, class Store>
__global__ void __launch_bounds__(kThreads) tile_gemm_kernel(LoadA a, LoadB b, Store store, int64_t m, int64_t n,
                                                             int64_t k, int64_t k_chunk) {
  __shared__ float as[kTileK][kTileM + 1];
  __shared__ float bs[kTileK][kTileN + 1];
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % 16, ty = tid / 16;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kTileM;  // x: M can exceed 65535 tiles
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * kTileN;
  const int64_t k_begin = static_cast<int64_t>(blockIdx.z) * k_chunk;
  const int64_t k_end = k_begin + k_chunk < k ? k_begin + k_chunk : k;

  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

  // This thread's staging slots: (row or column, k offset) of its 4 elements of A and of B, the
  // same at every K step; a slot outside the matrix (or a K range that is empty) never loads, and
  // its cursor never starts.
  constexpr int kSlotsA = (kTileM * kTileK) / kThreads, kSlotsB = (kTileK * kTileN) / kThreads;
  using CursorA = decltype(cursor_start<true>(a, int64_t{0}, int64_t{0}));
  using CursorB = decltype(cursor_start<false>(b, int64_t{0}, int64_t{0}));
  CursorA ca[kSlotsA]{};
  CursorB cb[kSlotsB]{};
  int a_row[kSlotsA], a_kk[kSlotsA], b_col[kSlotsB], b_kk[kSlotsB];
#pragma unroll
  for (int q = 0; q < kSlotsA; ++q) {
    const int e = tid + q * kThreads;
    a_row[q] = LoadA::k_fast ? e / kTileK : e % kTileM;
    a_kk[q] = LoadA::k_fast ? e % kTileK : e / kTileM;
    if (m0 + a_row[q] < m && k_begin < k_end) ca[q] = cursor_start<true>(a, m0 + a_row[q], k_begin + a_kk[q]);
  }
#pragma unroll
  for (int q = 0; q < kSlotsB; ++q) {
    const int e = tid + q * kThreads;
    b_col[q] = LoadB::k_fast ? e / kTileK : e % kTileN;
    b_kk[q] = LoadB::k_fast ? e % kTileK : e / kTileN;
    if (n0 + b_col[q] < n && k_begin < k_end) cb[q] = cursor_start<false>(b, n0 + b_col[q], k_begin + b_kk[q]);
  }

  for (int64_t k0 = k_begin; k0 < k_end; k0 += kTileK) {
    // Stage A (kTileM x kTileK) and B (kTileK x kTileN): 1024 elements each, 4 per thread.
#pragma unroll
    for (int q = 0; q < kSlotsA; ++q) {
      const bool row_in = m0 + a_row[q] < m;
      as[a_kk[q]][a_row[q]] = (row_in && k0 + a_kk[q] < k_end) ? cursor_load<true>(a, ca[q], k0 + a_kk[q]) : 0.0f;
      if (row_in) cursor_next(a, ca[q], kTileK);
    }
#pragma unroll
    for (int q = 0; q < kSlotsB; ++q) {
      const bool col_in = n0 + b_col[q] < n;
      bs[b_kk[q]][b_col[q]] = (col_in && k0 + b_kk[q] < k_end) ? cursor_load<false>(b, cb[q], k0 + b_kk[q]) : 0.0f;
      if (col_in) cursor_next(b, cb[q], kTileK);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = as[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();  // before the next step overwrites the tiles
  }

#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t gm = m0 + ty + 16 * i, gn = n0 + tx + 16 * j;
      if (gm < m && gn < n) store(static_cast<int>(blockIdx.z), gm, gn, acc[i][j]);
    }
}

// Adds the slices of ws (splits, M, N) in order and hands each sum to the final store.
template <class Store>
__global__ void reduce_splits_kernel(const float* __restrict__ ws, int splits, int64_t m, int64_t n, Store store) {
  const int64_t total = m * n;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total; e += stride) {
    float s = 0.0f;
    for (int z = 0; z < splits; ++z) s += ws[z * total + e];
    store(0, e / n, e % n, s);
  }
}

// How many K slices for an (m, n, k) product, given `ws_floats` of workspace (< 0: unlimited).
inline int choose_splits(int64_t m, int64_t n, int64_t k, int64_t ws_floats) {
  const int64_t tiles = ((m + kTileM - 1) / kTileM) * ((n + kTileN - 1) / kTileN);
  if (tiles >= kTargetBlocks || k < 2 * kMinSplitK) return 1;
  int64_t splits = (kTargetBlocks + tiles - 1) / tiles;
  splits = std::min<int64_t>(splits, k / kMinSplitK);
  splits = std::min<int64_t>(splits, kMaxSplits);
  if (ws_floats >= 0) splits = std::min<int64_t>(splits, ws_floats / (m * n));
  return static_cast<int>(std::max<int64_t>(splits, 1));
}

// Floats of workspace the split-K path wants for (m, n, k): 0 when it would not split.
inline int64_t splitk_workspace(int64_t m, int64_t n, int64_t k) {
  const int s = choose_splits(m, n, k, -1);
  return s > 1 ? static_cast<int64_t>(s) * m * n : 0;
}

// Runs C = A * B into `store`, split over K when that helps and the workspace allows.
template <class LoadA, class LoadB, class Store>
void run(const LoadA& a, const LoadB& b, const Store& store, int64_t m, int64_t n, int64_t k, float* ws,
         int64_t ws_floats, cudaStream_t stream) {
  if (m <= 0 || n <= 0) return;
  const int splits = ws ? choose_splits(m, n, k, ws_floats) : 1;
  int64_t k_chunk = (k + splits - 1) / splits;
  k_chunk = (k_chunk + kTileK - 1) / kTileK * kTileK;
  if (k_chunk <= 0) k_chunk = kTileK;
  const int used = static_cast<int>(std::max<int64_t>(1, (k + k_chunk - 1) / k_chunk));
  const dim3 grid(static_cast<unsigned>((m + kTileM - 1) / kTileM), static_cast<unsigned>((n + kTileN - 1) / kTileN),
                  static_cast<unsigned>(used));
  KN_CHECK(grid.y <= 65535u, "GEMM of ", n, " columns needs ", grid.y, " column tiles, more than a grid's 65535");
  if (used == 1) {
    tile_gemm_kernel<<<grid, kThreads, 0, stream>>>(a, b, store, m, n, k, k_chunk);
    KN_CUDA_CHECK_LAUNCH();
    return;
  }
  tile_gemm_kernel<<<grid, kThreads, 0, stream>>>(a, b, PartialStore{ws, m, n}, m, n, k, k_chunk);
  KN_CUDA_CHECK_LAUNCH();
  reduce_splits_kernel<<<grid_for(m * n), kBlock, 0, stream>>>(ws, used, m, n, store);
  KN_CUDA_CHECK_LAUNCH();
}

}  // namespace knotnet::cuda::gemm
