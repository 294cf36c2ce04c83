// The direct convolution: forward, weight and bias gradients (conv_direct.h).
#include "kernels/cuda/conv_direct.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "engine/cuda_check.h"

namespace knotnet::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kPixels = 4;     // neighbouring output pixels of one row per thread
constexpr int kFilters = 16;   // filters per thread (and per block): 4 float4 of weights
constexpr int kMaxPatch = 27;  // K*K*C

// Both kernels take a row's output pixels in groups of kPixels neighbours (the last may be short).
__host__ __device__ inline int64_t groups_per_row(const ConvDims& d) { return (d.ow + kPixels - 1) / kPixels; }
__host__ __device__ inline int64_t pixel_groups(const ConvDims& d) { return d.n * d.oh * groups_per_row(d); }

// A pixel group's index (or a stride of groups) as digits: image, output row (< OH) and group in
// the row (< groups_per_row).
struct GroupDigits {
  int64_t img;
  int oh, col;
};
__host__ __device__ inline GroupDigits group_digits(int64_t g, const ConvDims& d) {
  const int64_t per_row = groups_per_row(d);
  return GroupDigits{g / (d.oh * per_row), static_cast<int>(g / per_row % d.oh), static_cast<int>(g % per_row)};
}

// The K x (K + 3) x C inputs the windows of output pixels (img, oh, ow0 .. ow0 + 3) cover, 0
// where they fall in the padding, as the implicit GEMM's loader gives.
template <int K, int C>
__device__ __forceinline__ void load_window(const float* __restrict__ x, const ConvDims& d, int64_t img, int64_t oh,
                                            int64_t ow0, float (&in)[K][K + kPixels - 1][C]) {
#pragma unroll
  for (int kh = 0; kh < K; ++kh) {
    const int64_t ih = oh - d.pad_top + kh;
#pragma unroll
    for (int j = 0; j < K + kPixels - 1; ++j) {
      const int64_t iw = ow0 - d.pad_left + j;
      const bool inside = ih >= 0 && ih < d.h && iw >= 0 && iw < d.w;
      const int64_t at = inside ? ((img * d.h + ih) * d.w + iw) * C : 0;
#pragma unroll
      for (int c = 0; c < C; ++c) in[kh][j][c] = inside ? x[at + c] : 0.0f;
    }
  }
}

// One thread: output pixels (img, oh, ow0 .. ow0 + 3) for filters f0 .. f0 + 15 (f0 = 16 *
// blockIdx.y); threads past the last pixel group only help stage the weights.
template <int K, int C>
__global__ void __launch_bounds__(kThreads) conv_direct_forward_kernel(const float* __restrict__ x,  // (N, H, W, C)
                                                                       const float* __restrict__ w,  // (F, K, K, C)
                                                                       const float* __restrict__ b,  // (F) or null
                                                                       float* __restrict__ y,  // (N, OH, OW, F)
                                                                       ConvDims d, bool vector_store) {
  constexpr int kPatch = K * K * C;
  static_assert(kPatch <= kMaxPatch, "the patch must fit the staged weights");
  // This block's 16 filters, patch-major: wq[q][j] holds filters f0 + 4j .. f0 + 4j + 3 at patch
  // element q (0 past the last filter).
  __shared__ float4 wq[kMaxPatch][kFilters / 4];
  const int64_t f0 = static_cast<int64_t>(blockIdx.y) * kFilters;
  const int tid = static_cast<int>(threadIdx.x);
  if (tid < kPatch * (kFilters / 4)) {
    const int q = tid / (kFilters / 4), j = tid % (kFilters / 4);
    float v[4];
    for (int i = 0; i < 4; ++i) {
      const int64_t f = f0 + 4 * j + i;
      v[i] = f < d.f ? w[f * kPatch + q] : 0.0f;
    }
    wq[q][j] = float4{v[0], v[1], v[2], v[3]};
  }
  __syncthreads();

  const int64_t g = static_cast<int64_t>(blockIdx.x) * kThreads + tid;
  if (g >= pixel_groups(d)) return;
  const int64_t row = g / groups_per_row(d);  // img * OH + oh
  const int64_t ow0 = (g % groups_per_row(d)) * kPixels;
  const int64_t img = row / d.oh, oh = row % d.oh;

  float in[K][K + kPixels - 1][C];
  load_window<K, C>(x, d, img, oh, ow0, in);

  float acc[kPixels][kFilters];
#pragma unroll
  for (int p = 0; p < kPixels; ++p)
#pragma unroll
    for (int f = 0; f < kFilters; ++f) acc[p][f] = 0.0f;
  // The patch in the implicit GEMM's order: q = (kh * K + kw) * C + c.
#pragma unroll
  for (int kh = 0; kh < K; ++kh)
#pragma unroll
    for (int kw = 0; kw < K; ++kw)
#pragma unroll
      for (int c = 0; c < C; ++c) {
        const int q = (kh * K + kw) * C + c;
        float wv[kFilters];
#pragma unroll
        for (int j = 0; j < kFilters / 4; ++j) {
          const float4 t = wq[q][j];
          wv[4 * j] = t.x, wv[4 * j + 1] = t.y, wv[4 * j + 2] = t.z, wv[4 * j + 3] = t.w;
        }
#pragma unroll
        for (int p = 0; p < kPixels; ++p) {
          const float xv = in[kh][kw + p][c];
#pragma unroll
          for (int f = 0; f < kFilters; ++f) acc[p][f] = fmaf(xv, wv[f], acc[p][f]);
        }
      }

  float bias[kFilters];
#pragma unroll
  for (int f = 0; f < kFilters; ++f) bias[f] = b && f0 + f < d.f ? b[f0 + f] : 0.0f;
#pragma unroll
  for (int p = 0; p < kPixels; ++p) {
    if (ow0 + p >= d.ow) break;
    float* out = y + (row * d.ow + ow0 + p) * d.f;
#pragma unroll
    for (int j = 0; j < kFilters / 4; ++j) {
      const int64_t f = f0 + 4 * j;
      if (f >= d.f) break;  // F is a multiple of 4: a group of 4 is all in or all out
      float v[4];
      for (int i = 0; i < 4; ++i) v[i] = b ? acc[p][4 * j + i] + bias[4 * j + i] : acc[p][4 * j + i];
      if (vector_store) {
        *reinterpret_cast<float4*>(out + f) = float4{v[0], v[1], v[2], v[3]};
      } else {
        for (int i = 0; i < 4; ++i) out[f + i] = v[i];
      }
    }
  }
}

template <int K, int C>
void launch_forward(const float* x, const float* w, const float* b, float* y, const ConvDims& d, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((pixel_groups(d) + kThreads - 1) / kThreads),
                  static_cast<unsigned>((d.f + kFilters - 1) / kFilters));
  const bool vector_store = reinterpret_cast<uintptr_t>(y) % 16 == 0;
  conv_direct_forward_kernel<K, C><<<grid, kThreads, 0, stream>>>(x, w, b, y, d, vector_store);
  KN_CUDA_CHECK_LAUNCH();
}

// The weight and bias gradients (conv_direct.h). A block: 32 pixel slots x 4 filter groups of 4
// filters (thread = slot * 4 + group), the 16 filters f0 .. f0 + 15 (f0 = 16 * blockIdx.x). Slot
// s of pixel block b = blockIdx.y takes the pixel groups (4 neighbouring pixels of a row)
// g = 32 b + s, then on by 32 * gridDim.y. Writes ws[b][f][q] for q < K*K*C (dw's terms) and
// q = K*K*C (db's). The filter blocks of one pixel block are neighbours in the launch order (x
// first), so they read the same pixels' dy at about the same time: each pixel's F floats come
// from DRAM once, not in 64-byte pieces over F / 16 sweeps of dy.
constexpr int kSlots = kThreads / 4;

// dy of pixels (img, oh, 4 col .. 4 col + 3) for filters f .. f + 3, 0 past the row's end; float4
// loads where dy is 16-byte aligned (F and f are multiples of 4, so every pixel's f is then).
__device__ __forceinline__ void load_dy(const float* __restrict__ dy, const ConvDims& d, int64_t f, int64_t img,
                                        int oh, int col, bool vector_load, float (&dv)[kPixels][4]) {
  const int64_t ow0 = static_cast<int64_t>(col) * kPixels;
  const float* at = dy + ((img * d.oh + oh) * d.ow + ow0) * d.f + f;
#pragma unroll
  for (int p = 0; p < kPixels; ++p) {
    if (ow0 + p < d.ow && vector_load) {
      const float4 t = *reinterpret_cast<const float4*>(at + p * d.f);
      dv[p][0] = t.x, dv[p][1] = t.y, dv[p][2] = t.z, dv[p][3] = t.w;
    } else {
#pragma unroll
      for (int i = 0; i < 4; ++i) dv[p][i] = ow0 + p < d.ow ? at[p * d.f + i] : 0.0f;
    }
  }
}

template <int K, int C>
__global__ void __launch_bounds__(kThreads) conv_direct_filter_kernel(const float* __restrict__ x,   // (N, H, W, C)
                                                                      const float* __restrict__ dy,  // (N, OH, OW, F)
                                                                      float* __restrict__ ws,  // (blocks, F, patch + 1)
                                                                      ConvDims d, int64_t groups, GroupDigits step,
                                                                      bool vector_load) {
  constexpr int kPatch = K * K * C;
  static_assert(4 * (kPatch + 1) <= kThreads, "one thread per (filter group, patch element) sums the slots");
  __shared__ float red[kThreads][kPatch + 1];
  const int tid = static_cast<int>(threadIdx.x);
  const int fg = tid % 4, slot = tid / 4;
  const int64_t f = static_cast<int64_t>(blockIdx.x) * kFilters + 4 * fg;  // this thread's first filter
  const bool f_in = f < d.f;  // F is a multiple of 4: a group of 4 is all in or all out
  const int64_t per_row = groups_per_row(d);
  const int64_t stride = static_cast<int64_t>(gridDim.y) * kSlots;

  float acc[4][kPatch], dsum[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    dsum[i] = 0.0f;
#pragma unroll
    for (int q = 0; q < kPatch; ++q) acc[i][q] = 0.0f;
  }
  // The group g as (image, output row, group in the row), moved on by the stride's digits with
  // carries: no division in the loop.
  int64_t g = static_cast<int64_t>(blockIdx.y) * kSlots + slot;
  const GroupDigits first = g < groups ? group_digits(g, d) : GroupDigits{0, 0, 0};
  int64_t img = first.img;
  int oh = first.oh, col = first.col;
  // dy of a group's 4 pixels for the 4 filters, 0 past the row's end. The next group's is read
  // before this group's multiply-adds, so that its latency (dy comes from DRAM) hides behind them.
  float dv[kPixels][4];
  if (f_in && g < groups) load_dy(dy, d, f, img, oh, col, vector_load, dv);
  for (; f_in && g < groups; g += stride) {
    const int64_t ow0 = static_cast<int64_t>(col) * kPixels;
    float in[K][K + kPixels - 1][C];
    load_window<K, C>(x, d, img, oh, ow0, in);
    int64_t next_img = img;
    int next_oh = oh, next_col = col;
    next_col += step.col;
    if (next_col >= per_row) next_col -= static_cast<int>(per_row), ++next_oh;
    next_oh += step.oh;
    if (next_oh >= d.oh) next_oh -= static_cast<int>(d.oh), ++next_img;
    next_img += step.img;
    float dn[kPixels][4];
    if (g + stride < groups) {
      load_dy(dy, d, f, next_img, next_oh, next_col, vector_load, dn);
    } else {
#pragma unroll
      for (int p = 0; p < kPixels; ++p)
#pragma unroll
        for (int i = 0; i < 4; ++i) dn[p][i] = 0.0f;
    }
#pragma unroll
    for (int p = 0; p < kPixels; ++p)
#pragma unroll
      for (int i = 0; i < 4; ++i) dsum[i] += dv[p][i];
#pragma unroll
    for (int kh = 0; kh < K; ++kh)
#pragma unroll
      for (int kw = 0; kw < K; ++kw)
#pragma unroll
        for (int c = 0; c < C; ++c) {
          const int q = (kh * K + kw) * C + c;
#pragma unroll
          for (int p = 0; p < kPixels; ++p) {
            const float xv = in[kh][kw + p][c];
#pragma unroll
            for (int i = 0; i < 4; ++i) acc[i][q] = fmaf(dv[p][i], xv, acc[i][q]);
          }
        }
#pragma unroll
    for (int p = 0; p < kPixels; ++p)
#pragma unroll
      for (int i = 0; i < 4; ++i) dv[p][i] = dn[p][i];
    img = next_img, oh = next_oh, col = next_col;
  }

  // The block's sums over its 32 slots, slot by slot in order: one filter of each group a round.
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int q = 0; q < kPatch; ++q) red[tid][q] = acc[i][q];
    red[tid][kPatch] = dsum[i];
    __syncthreads();
    if (tid < 4 * (kPatch + 1)) {
      const int group = tid / (kPatch + 1), q = tid % (kPatch + 1);
      const int64_t ff = static_cast<int64_t>(blockIdx.x) * kFilters + 4 * group + i;
      float s = 0.0f;
      for (int sl = 0; sl < kSlots; ++sl) s += red[sl * 4 + group][q];
      if (ff < d.f) ws[(static_cast<int64_t>(blockIdx.y) * d.f + ff) * (kPatch + 1) + q] = s;
    }
    __syncthreads();
  }
}

// dw and db from the blocks' partials, each the sum over blocks in order, in double.
__global__ void conv_direct_filter_sum_kernel(const float* __restrict__ ws, int blocks, int64_t per_block, int patch,
                                              float* __restrict__ dw, float* __restrict__ db) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= per_block) return;
  double s = 0.0;
#pragma unroll 8  // the loads issue ahead; the additions keep their order
  for (int z = 0; z < blocks; ++z) s += ws[z * per_block + e];
  const int64_t f = e / (patch + 1), q = e % (patch + 1);
  if (q < patch)
    dw[f * patch + q] = static_cast<float>(s);
  else
    db[f] = static_cast<float>(s);
}

// Pixel-group blocks the weight gradient runs in: about 16 groups per slot, at most 512 blocks
// (their partials are 512 x F x (K*K*C + 1) floats, 3.7 MB for conv_1), at least 1.
constexpr int64_t kGroupsPerSlot = 16;
constexpr int64_t kMaxFilterBlocks = 512;

int64_t filter_blocks(const ConvDims& d) {
  const int64_t groups = pixel_groups(d);
  return std::clamp<int64_t>((groups + kSlots * kGroupsPerSlot - 1) / (kSlots * kGroupsPerSlot), 1, kMaxFilterBlocks);
}

size_t partials_bytes_per_block(const ConvDims& d) {
  return static_cast<size_t>(d.f * (d.patch() + 1)) * sizeof(float);
}

template <int K, int C>
void launch_filter(const float* x, const float* dy, float* dw, float* db, const ConvDims& d, void* work,
                   size_t work_bytes, cudaStream_t stream) {
  const int64_t blocks = std::min<int64_t>(filter_blocks(d), static_cast<int64_t>(work_bytes / partials_bytes_per_block(d)));
  KN_CHECK(blocks >= 1, "conv_direct_backward_filter: a workspace of ", work_bytes, " bytes cannot hold one block's ",
           partials_bytes_per_block(d), " bytes of partial sums");
  float* ws = static_cast<float*>(work);
  const int64_t groups = pixel_groups(d);
  const dim3 grid(static_cast<unsigned>((d.f + kFilters - 1) / kFilters), static_cast<unsigned>(blocks));
  const bool vector_load = reinterpret_cast<uintptr_t>(dy) % 16 == 0;
  const GroupDigits step = groups == 0 ? GroupDigits{0, 0, 0} : group_digits(blocks * kSlots, d);
  conv_direct_filter_kernel<K, C><<<grid, kThreads, 0, stream>>>(x, dy, ws, d, groups, step, vector_load);
  KN_CUDA_CHECK_LAUNCH();
  const int64_t per_block = d.f * (d.patch() + 1);
  const unsigned sum_blocks = static_cast<unsigned>((per_block + 255) / 256);
  conv_direct_filter_sum_kernel<<<sum_blocks, 256, 0, stream>>>(ws, static_cast<int>(blocks), per_block,
                                                                 static_cast<int>(d.patch()), dw, db);
  KN_CUDA_CHECK_LAUNCH();
}

// The one list of supported (K, C): calls run(std::integral_constant K, C) for a supported pair
// and returns true, or returns false.
template <class Run>
bool with_shape(int64_t k, int64_t c, Run run) {
  using std::integral_constant;
  if (c < 1 || c > 9) return false;  // keeps k * 10 + c one pair's
  switch (k * 10 + c) {
    case 11: run(integral_constant<int, 1>{}, integral_constant<int, 1>{}); return true;
    case 12: run(integral_constant<int, 1>{}, integral_constant<int, 2>{}); return true;
    case 13: run(integral_constant<int, 1>{}, integral_constant<int, 3>{}); return true;
    case 14: run(integral_constant<int, 1>{}, integral_constant<int, 4>{}); return true;
    case 31: run(integral_constant<int, 3>{}, integral_constant<int, 1>{}); return true;
    case 32: run(integral_constant<int, 3>{}, integral_constant<int, 2>{}); return true;
    case 33: run(integral_constant<int, 3>{}, integral_constant<int, 3>{}); return true;
    case 51: run(integral_constant<int, 5>{}, integral_constant<int, 1>{}); return true;
    default: return false;
  }
}

constexpr const char* kSupported = " filters is not supported (K, C in (1, 1-4), (3, 1-3), (5, 1); F a multiple of 4)";

}  // namespace

bool conv_direct_supported(const ConvDims& d) {
  const bool pair = with_shape(d.k, d.c, [](auto, auto) {});
  return pair && d.f > 0 && d.f % 4 == 0 && d.f / kFilters < 65535;
}

void conv_direct_forward(const float* x, const float* w, const float* b, float* y, const ConvDims& d,
                         cudaStream_t stream) {
  KN_CHECK(conv_direct_supported(d), "conv_direct_forward: a ", d.k, "x", d.k, "x", d.c, " convolution to ", d.f,
           kSupported);
  if (d.n * d.oh * d.ow <= 0) return;
  with_shape(d.k, d.c, [&](auto k, auto c) { launch_forward<decltype(k)::value, decltype(c)::value>(x, w, b, y, d, stream); });
}

size_t conv_direct_filter_workspace_bytes(const ConvDims& d) {
  return conv_direct_supported(d) ? static_cast<size_t>(filter_blocks(d)) * partials_bytes_per_block(d) : 0;
}

size_t conv_direct_filter_min_workspace_bytes(const ConvDims& d) {
  return conv_direct_supported(d) ? partials_bytes_per_block(d) : 0;
}

void conv_direct_backward_filter(const float* x, const float* dy, float* dw, float* db, const ConvDims& d, void* work,
                                 size_t work_bytes, cudaStream_t stream) {
  KN_CHECK(conv_direct_supported(d), "conv_direct_backward_filter: a ", d.k, "x", d.k, "x", d.c, " convolution to ",
           d.f, kSupported);
  // No pixels (an empty batch) still runs: every block's partials are 0, so dw and db become 0.
  with_shape(d.k, d.c, [&](auto k, auto c) { launch_filter<decltype(k)::value, decltype(c)::value>(x, dy, dw, db, d, work, work_bytes, stream); });
}

}  // namespace knotnet::cuda
