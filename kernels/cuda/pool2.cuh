// The 2x2 stride-2 pooling's index arithmetic over NHWC tensors, shared by the max-pool kernels
// (maxpool.cu), the average-pool kernels (avgpool.cu) and the fused batch-norm + ReLU + pool
// kernels (fused_bn_relu_pool.cu, bn_common.cuh). An odd last row or column belongs to no window.
//
// Two ways to walk the windows:
// - per pooled element (pool2_window_origin, the forwards; pool2_slot, per input element, left
//   only for the fused backward's degenerate case of no window at all);
// - per (window, group of VEC channels) for the backwards and the average-pool's forward
//   (pool2_window): a thread finds its window with two or three 32-bit divisions, then touches
//   the window's four inputs and any uncovered input beside it (pool2_for_uncovered), so no input
//   needs index arithmetic of its own.
#pragma once

#include <cstdint>
#include <type_traits>

namespace knotnet::cuda {

// The offset of the top-left input of the window of pooled element o, o indexing (N, H/2, W/2, C)
// and the input being (N, H, W, C); the window's other inputs are at +c, +w*c and +w*c+c.
__device__ __forceinline__ int64_t pool2_window_origin(int64_t o, int64_t h, int64_t w, int64_t c) {
  const int64_t oh = h / 2, ow = w / 2;
  const int64_t ch = o % c;
  int64_t t = o / c;
  const int64_t j = t % ow;
  t /= ow;
  const int64_t i = t % oh;
  const int64_t s = t / oh;
  return ((s * h + 2 * i) * w + 2 * j) * c + ch;
}

// Where input element (r, ch) lands, r indexing the (N, H, W) positions: the pooled element whose
// window holds it and its corner there (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right,
// as the forward's argmax records it); pooled = -1 when no window holds it.
struct Pool2Slot {
  int64_t pooled;
  int corner;
};

__device__ __forceinline__ Pool2Slot pool2_slot(int64_t r, int64_t ch, int64_t h, int64_t w, int64_t c) {
  const int64_t col = r % w;
  const int64_t t = r / w;
  const int64_t row = t % h;
  const int64_t s = t / h;
  const int64_t oh = h / 2, ow = w / 2;
  const int64_t i = row / 2, j = col / 2;
  if (i >= oh || j >= ow) return {-1, 0};
  return {((s * oh + i) * ow + j) * c + ch, static_cast<int>((row % 2) * 2 + (col % 2))};
}

// ---- Per-window walking, for the backwards ----
//
// I, the index type: uint32_t when the input has at most 2^31 elements (pool2_fits_u32), so every
// offset, and an offset plus a grid stride (< 2^22), fits; else int64_t.
inline bool pool2_fits_u32(int64_t input_elements) { return input_elements <= (int64_t{1} << 31); }

// Whether VEC channels may be moved as one access (float2 / float4, 2 / 4 uint8): C a multiple of
// VEC, every float pointer aligned to 4 * VEC bytes and every uint8 one to VEC bytes; then every
// group of VEC channels is aligned too.
inline bool pool2_aligned(const void* p, int bytes) {
  return p == nullptr || reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes) == 0;
}

// Calls f(vec, index) for the widest access and the narrowest index type a launch may use (f
// launches the kernel instantiated for decltype(vec)::value and decltype(index)):
// vec an std::integral_constant<int, 4> when `vec4` (see pool2_aligned), else <int, 1>; index a
// uint32_t when the input's elements fit (pool2_fits_u32), else an int64_t.
template <class F>
inline void pool2_dispatch(bool vec4, int64_t input_elements, F&& f) {
  using V1 = std::integral_constant<int, 1>;
  using V4 = std::integral_constant<int, 4>;
  const bool u32 = pool2_fits_u32(input_elements);
  if (vec4 && u32) f(V4{}, uint32_t{});
  else if (vec4) f(V4{}, int64_t{});
  else if (u32) f(V1{}, uint32_t{});
  else f(V1{}, int64_t{});
}

template <class I>
struct Pool2Dims {
  I h, w, c;    // the input's spatial size and channels
  I oh, ow;     // h / 2, w / 2
  I wc;         // w * c: one input row
  I groups;     // c / VEC
  I items;      // n * oh * ow * groups: the work items
};

template <class I>
inline Pool2Dims<I> pool2_dims(int64_t n, int64_t h, int64_t w, int64_t c, int vec) {
  Pool2Dims<I> d;
  d.h = static_cast<I>(h), d.w = static_cast<I>(w), d.c = static_cast<I>(c);
  d.oh = static_cast<I>(h / 2), d.ow = static_cast<I>(w / 2);
  d.wc = static_cast<I>(w * c);
  d.groups = static_cast<I>(c / vec);
  d.items = static_cast<I>(n * (h / 2) * (w / 2) * (c / vec));
  return d;
}

// Work item t indexes (N, OH, OW, C / VEC) row-major: its pooled elements start at t * VEC.
template <class I>
struct Pool2Window {
  I origin;       // input offset of the top-left input's first channel
  I ch;           // the first channel
  bool last_col;  // w odd and the last window column: column w-1 beside the window is in none
  bool last_row;  // h odd and the last window row: row h-1 below the window is in none
};

template <class I>
__device__ __forceinline__ Pool2Window<I> pool2_window(I t, const Pool2Dims<I>& d, int vec) {
  const I p = t / d.groups;  // the pooled position over (N, OH, OW)
  const I ch = (t - p * d.groups) * static_cast<I>(vec);
  const I rr = p / d.ow;     // the window row over (N, OH): rr = s * oh + i
  const I j = p - rr * d.ow;
  // The window's top input row over (N, H) is s * h + 2i = 2 * rr + s * (h - 2 * oh): the image
  // index s is needed, and divided out, only when h is odd.
  I in_row = 2 * rr;
  bool last_row = false;
  if (d.h & 1) {
    const I s = rr / d.oh;
    in_row += s;
    last_row = rr - s * d.oh == d.oh - 1;
  }
  return {(in_row * d.w + 2 * j) * d.c + ch, ch, (d.w & 1) != 0 && j == d.ow - 1, last_row};
}

// The offset of corner q (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) from the origin.
template <class I>
__device__ __forceinline__ I pool2_corner(int q, const Pool2Dims<I>& d) {
  return (q & 2 ? d.wc : I{0}) + (q & 1 ? d.c : I{0});
}

// Calls f(offset) for each input next to the window that no window holds: column w-1 of the
// window's two rows for the last window column, row h-1 below it for the last window row, and
// their corner for the last window. Each such input is visited by exactly one work item.
template <class I, class F>
__device__ __forceinline__ void pool2_for_uncovered(const Pool2Window<I>& win, const Pool2Dims<I>& d, F&& f) {
  if (win.last_col) {
    f(win.origin + 2 * d.c);
    f(win.origin + d.wc + 2 * d.c);
  }
  if (win.last_row) {
    f(win.origin + 2 * d.wc);
    f(win.origin + 2 * d.wc + d.c);
    if (win.last_col) f(win.origin + 2 * d.wc + 2 * d.c);
  }
}

// VEC consecutive values (VEC = 1, 2 or 4) as one access.
template <int VEC>
__device__ __forceinline__ void load_vec(const float* p, float (&v)[VEC]) {
  if constexpr (VEC == 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
  } else if constexpr (VEC == 2) {
    const float2 q = *reinterpret_cast<const float2*>(p);
    v[0] = q.x, v[1] = q.y;
  } else {
    for (int k = 0; k < VEC; ++k) v[k] = p[k];
  }
}

template <int VEC>
__device__ __forceinline__ void store_vec(float* p, const float (&v)[VEC]) {
  if constexpr (VEC == 4) {
    *reinterpret_cast<float4*>(p) = float4{v[0], v[1], v[2], v[3]};
  } else if constexpr (VEC == 2) {
    *reinterpret_cast<float2*>(p) = float2{v[0], v[1]};
  } else {
    for (int k = 0; k < VEC; ++k) p[k] = v[k];
  }
}

template <int VEC>
__device__ __forceinline__ void load_vec(const uint8_t* p, uint8_t (&v)[VEC]) {
  if constexpr (VEC == 4) {
    const uint32_t q = *reinterpret_cast<const uint32_t*>(p);  // little-endian: byte k is channel k
#pragma unroll
    for (int k = 0; k < 4; ++k) v[k] = static_cast<uint8_t>(q >> (8 * k));
  } else if constexpr (VEC == 2) {
    const uint16_t q = *reinterpret_cast<const uint16_t*>(p);
    v[0] = static_cast<uint8_t>(q), v[1] = static_cast<uint8_t>(q >> 8);
  } else {
    for (int k = 0; k < VEC; ++k) v[k] = p[k];
  }
}

}  // namespace knotnet::cuda
