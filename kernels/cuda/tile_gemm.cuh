// The tiled SGEMM core shared by dense_sgemm.cu and conv_implicit_gemm.cu:
//   C (M, N) = A (M, K) * B (K, N)
// where A and B are not matrices in memory but loaders, a(m, k) and b(k, n), so the same
// kernel runs a plain GEMM (strided loads) and an implicit-GEMM convolution (im2col computed on
// the fly, never stored). Results go to a store functor.
//
// Tiling: a block of 256 threads (16 x 16) computes a BM x BN tile of C; each step stages a
// BM x BK slab of A and a BK x BN slab of B in shared memory (zero-filled outside the matrices),
// then each thread accumulates a TM x TN sub-tile in registers: rows ty + 16 i, columns tx + 16 j,
// the strided layout making every shared-memory read in the inner loop either a broadcast or 16
// consecutive words (no bank conflicts). Four tiles (Tile, choose_tile): 64 x 64 with 4 x 4 per
// thread for small outputs, 128 x 64 (8 x 4) and 128 x 128 (8 x 8) for the implicit-GEMM
// convolutions' hundreds of thousands of rows, and 64 x 32 (4 x 2) for outputs of few columns
// (chosen only by timing). Each output element is the same chain of fmaf over
// k in order whatever the tile, so the tile changes a result only through the split-K chunks.
// Loaders say which index should vary fastest across threads (k_fast) so that global loads are
// coalesced for their layout. The slabs are double-buffered: each step's global loads are issued
// before the previous step's multiply-adds and stored after them (software pipelining).
//
// Cursors: each thread stages the same (row, k) slots of A, and of B, at every K step, k moving
// by BK. A loader whose element index is costly to take apart (an implicit-GEMM loader divides a
// flat index into image, row, column and channel) defines a Cursor instead of operator():
// start(mn, k) takes the index apart once per slot per tile, load(cursor) reads the element,
// next(cursor, step) moves it along K with additions and compares. Other loaders are called as
// a(row, k) / b(k, col) at every element.
//
// Split-K: when the output has too few tiles to fill the card (a dense layer's (128, 128)
// output with K = 25,088, a convolution's weight gradient with K = N*OH*OW), gridDim.z slices K
// into chunks; each slice writes its partial tile to a float workspace (splits, M, N), and a
// second kernel adds the slices in order (deterministic) and applies the final store.
#pragma once

#include <algorithm>
#include <cstdint>

#include "engine/cuda_check.h"
#include "kernels/cuda/gemm_tile.h"
#include "kernels/cuda/launch.h"

namespace knotnet::cuda::gemm {

constexpr int kThreads = 256;

// A block's tile: BM x BN of C, BK deep per step, each of the 16 x 16 threads holding TM x TN
// accumulators (rows ty + 16 i, columns tx + 16 j). Larger tiles do more multiply-adds per
// shared-memory read (TM * TN per TM + TN) and per staged element, at the cost of registers and
// of tiles wasted on a ragged edge; run() picks one by the output's shape (choose_tile).
// MinBlocks: the blocks per SM the compiler must leave registers for (__launch_bounds__).
template <int BM, int BN, int BK, int TM, int TN, int MinBlocks>
struct Tile {
  static constexpr int kM = BM, kN = BN, kK = BK, kTM = TM, kTN = TN, kMinBlocks = MinBlocks;
  static_assert(BM == 16 * TM && BN == 16 * TN, "16 x 16 threads cover the tile");
  static_assert((BM * BK) % kThreads == 0 && (BK * BN) % kThreads == 0, "whole slots per thread");
  static_assert(32 % BK == 0, "shared-memory rows are padded by 32 / BK words");
  static constexpr int kSlotsA = BM * BK / kThreads, kSlotsB = BK * BN / kThreads;
};
// Registers per thread on sm_90 (ptxas, CUDA 13): small and tall fit 2 blocks per SM (<= 128)
// without spilling; wide needs 170-200 with an implicit-GEMM loader's cursors, and forcing it to
// 128 spilled 100-300 bytes, so it runs one block per SM. Which is faster is measured, not
// assumed: the convolutions time every tile (conv_autotune.h).
using SmallTile = Tile<64, 64, 16, 4, 4, 2>;   // 16 FMAs per 8 shared reads; any shape
using TallTile = Tile<128, 64, 8, 8, 4, 2>;    // 32 per 12: many rows, at most 64 columns
using WideTile = Tile<128, 128, 8, 8, 8, 1>;   // 64 per 16: many rows and columns
// 8 per 6: few columns, as a first convolution's weight gradient (F x 27 for 3x3x3 patches),
// where the small tile leaves 37 of its 64 columns idle.
using NarrowTile = Tile<64, 32, 16, 4, 2, 2>;

// The default (TileKind::automatic): implicit-GEMM convolutions have N*OH*OW rows (hundreds of
// thousands) and F or C columns (64 to 128); their weight gradients have few rows (F) and take
// the small tile with split-K. (Dense layers ask for the small tile: dense_sgemm.cu.)
inline TileKind choose_tile(int64_t m, int64_t n, TileKind asked = TileKind::automatic) {
  if (asked != TileKind::automatic) return asked;
  if (m < 8192) return TileKind::small;
  return n <= 64 ? TileKind::tall : TileKind::wide;
}
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

template <class T, class LoadA, class LoadB, class Store>
__global__ void __launch_bounds__(kThreads, T::kMinBlocks) tile_gemm_kernel(LoadA a, LoadB b, Store store, int64_t m, int64_t n,
                                                             int64_t k, int64_t k_chunk) {
  constexpr int BM = T::kM, BN = T::kN, BK = T::kK, TM = T::kTM, TN = T::kTN;
  // Rows padded by 32 / BK words: a warp's k_fast stores (32 / BK rows of BK consecutive k) then
  // fall in 32 distinct banks; the inner loop's reads are broadcasts or 16 consecutive words.
  constexpr int kPad = 32 / BK;
  // Two buffers of each slab: step s computes from one while the other is filled for step s + 1.
  __shared__ float as[2][BK][BM + kPad];
  __shared__ float bs[2][BK][BN + kPad];
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % 16, ty = tid / 16;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * BM;  // x: M can exceed 65535 tiles
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * BN;
  const int64_t k_begin = static_cast<int64_t>(blockIdx.z) * k_chunk;
  const int64_t k_end = k_begin + k_chunk < k ? k_begin + k_chunk : k;

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  // This thread's staging slots: (row or column, k offset) of its elements of A and of B, the
  // same at every K step; a slot outside the matrix (or a K range that is empty) never loads, and
  // its cursor never starts.
  constexpr int kSlotsA = T::kSlotsA, kSlotsB = T::kSlotsB;
  using CursorA = decltype(cursor_start<true>(a, int64_t{0}, int64_t{0}));
  using CursorB = decltype(cursor_start<false>(b, int64_t{0}, int64_t{0}));
  CursorA ca[kSlotsA]{};
  CursorB cb[kSlotsB]{};
  int a_row[kSlotsA], a_kk[kSlotsA], b_col[kSlotsB], b_kk[kSlotsB];
#pragma unroll
  for (int q = 0; q < kSlotsA; ++q) {
    const int e = tid + q * kThreads;
    a_row[q] = LoadA::k_fast ? e / BK : e % BM;
    a_kk[q] = LoadA::k_fast ? e % BK : e / BM;
    if (m0 + a_row[q] < m && k_begin < k_end) ca[q] = cursor_start<true>(a, m0 + a_row[q], k_begin + a_kk[q]);
  }
#pragma unroll
  for (int q = 0; q < kSlotsB; ++q) {
    const int e = tid + q * kThreads;
    b_col[q] = LoadB::k_fast ? e / BK : e % BN;
    b_kk[q] = LoadB::k_fast ? e % BK : e / BN;
    if (n0 + b_col[q] < n && k_begin < k_end) cb[q] = cursor_start<false>(b, n0 + b_col[q], k_begin + b_kk[q]);
  }

  // Software pipelining: the next step's elements are read from global memory into registers
  // (ra, rb) before this step's multiply-adds, so their latency hides behind them; they go to the
  // other shared buffer after. One barrier per step: the buffer written at step s was last read
  // at step s - 1, before that step's barrier. The order of the fmaf chain over k is unchanged.
  float ra[kSlotsA], rb[kSlotsB];
  auto fetch = [&](int64_t k0) {
#pragma unroll
    for (int q = 0; q < kSlotsA; ++q) {
      const bool row_in = m0 + a_row[q] < m;
      ra[q] = (row_in && k0 + a_kk[q] < k_end) ? cursor_load<true>(a, ca[q], k0 + a_kk[q]) : 0.0f;
      if (row_in) cursor_next(a, ca[q], BK);
    }
#pragma unroll
    for (int q = 0; q < kSlotsB; ++q) {
      const bool col_in = n0 + b_col[q] < n;
      rb[q] = (col_in && k0 + b_kk[q] < k_end) ? cursor_load<false>(b, cb[q], k0 + b_kk[q]) : 0.0f;
      if (col_in) cursor_next(b, cb[q], BK);
    }
  };
  auto stash = [&](int buf) {
#pragma unroll
    for (int q = 0; q < kSlotsA; ++q) as[buf][a_kk[q]][a_row[q]] = ra[q];
#pragma unroll
    for (int q = 0; q < kSlotsB; ++q) bs[buf][b_kk[q]][b_col[q]] = rb[q];
  };
  if (k_begin < k_end) {
    fetch(k_begin);
    stash(0);
  }
  __syncthreads();
  int buf = 0;
  for (int64_t k0 = k_begin; k0 < k_end; k0 += BK, buf ^= 1) {
    const bool more = k0 + BK < k_end;
    if (more) fetch(k0 + BK);
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float av[TM], bv[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) av[i] = as[buf][kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < TN; ++j) bv[j] = bs[buf][kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    if (more) stash(buf ^ 1);
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) {
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

// How many K slices for an (m, n, k) product in tiles of bm x bn, given `ws_floats` of workspace
// (< 0: unlimited).
inline int choose_splits(int64_t m, int64_t n, int64_t k, int64_t ws_floats, int bm, int bn) {
  const int64_t tiles = ((m + bm - 1) / bm) * ((n + bn - 1) / bn);
  if (tiles >= kTargetBlocks || k < 2 * kMinSplitK) return 1;
  int64_t splits = (kTargetBlocks + tiles - 1) / tiles;
  splits = std::min<int64_t>(splits, k / kMinSplitK);
  splits = std::min<int64_t>(splits, kMaxSplits);
  if (ws_floats >= 0) splits = std::min<int64_t>(splits, ws_floats / (m * n));
  return static_cast<int>(std::max<int64_t>(splits, 1));
}

template <class T>
int choose_splits(int64_t m, int64_t n, int64_t k, int64_t ws_floats) {
  return choose_splits(m, n, k, ws_floats, T::kM, T::kN);
}

// Calls f(Tile{}) with the tile `kind` names (automatic: choose_tile's for an m x n output).
template <class F>
decltype(auto) with_tile(int64_t m, int64_t n, TileKind kind, F f) {
  switch (choose_tile(m, n, kind)) {
    case TileKind::tall: return f(TallTile{});
    case TileKind::wide: return f(WideTile{});
    case TileKind::narrow: return f(NarrowTile{});
    case TileKind::automatic:
    case TileKind::small:
    case TileKind::direct: break;  // not a GEMM (conv_implicit_gemm.cu runs it before the core)
  }
  return f(SmallTile{});
}

// Floats of workspace the split-K path wants for (m, n, k) in `tile` (automatic: choose_tile's):
// 0 when it would not split. (Another tile may want more or less; with less it splits fewer ways.)
inline int64_t splitk_workspace(int64_t m, int64_t n, int64_t k, TileKind tile = TileKind::automatic) {
  const int s = with_tile(m, n, tile, [&](auto t) { return choose_splits<decltype(t)>(m, n, k, -1); });
  return s > 1 ? static_cast<int64_t>(s) * m * n : 0;
}

template <class T, class LoadA, class LoadB, class Store>
void run_tiles(const LoadA& a, const LoadB& b, const Store& store, int64_t m, int64_t n, int64_t k, float* ws,
               int64_t ws_floats, cudaStream_t stream) {
  const int splits = ws ? choose_splits<T>(m, n, k, ws_floats) : 1;
  int64_t k_chunk = (k + splits - 1) / splits;
  k_chunk = (k_chunk + T::kK - 1) / T::kK * T::kK;
  if (k_chunk <= 0) k_chunk = T::kK;
  const int used = static_cast<int>(std::max<int64_t>(1, (k + k_chunk - 1) / k_chunk));
  const dim3 grid(static_cast<unsigned>((m + T::kM - 1) / T::kM), static_cast<unsigned>((n + T::kN - 1) / T::kN),
                  static_cast<unsigned>(used));
  KN_CHECK(grid.y <= 65535u, "GEMM of ", n, " columns needs ", grid.y, " column tiles, more than a grid's 65535");
  if (used == 1) {
    tile_gemm_kernel<T><<<grid, kThreads, 0, stream>>>(a, b, store, m, n, k, k_chunk);
    KN_CUDA_CHECK_LAUNCH();
    return;
  }
  tile_gemm_kernel<T><<<grid, kThreads, 0, stream>>>(a, b, PartialStore{ws, m, n}, m, n, k, k_chunk);
  KN_CUDA_CHECK_LAUNCH();
  reduce_splits_kernel<<<grid_for(m * n), kBlock, 0, stream>>>(ws, used, m, n, store);
  KN_CUDA_CHECK_LAUNCH();
}

// Runs C = A * B into `store`, in the tile asked for (automatic: choose_tile's), split over K when
// that helps and the workspace allows.
template <class LoadA, class LoadB, class Store>
void run(const LoadA& a, const LoadB& b, const Store& store, int64_t m, int64_t n, int64_t k, float* ws,
         int64_t ws_floats, cudaStream_t stream, TileKind tile = TileKind::automatic) {
  if (m <= 0 || n <= 0) return;
  with_tile(m, n, tile,
            [&](auto t) { run_tiles<decltype(t)>(a, b, store, m, n, k, ws, ws_floats, stream); });
}

}  // namespace knotnet::cuda::gemm
