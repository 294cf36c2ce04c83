// 2x2 stride-2 max-pooling forward and backward on the GPU, NHWC.
// Non-obvious choice: backward runs one thread per (window, group of VEC channels), VEC = 4
// (float4 along C) when C % 4 == 0 and the pointers allow, else 1. A thread reads its window's dy
// and argmax once and writes all four of its dx (the maximum's dy and three zeros), plus the
// zeros of the uncovered odd last column/row beside the window when it is the last window of its
// row/column (pool2_for_uncovered), so every dx element is still written exactly once, with no
// memset and no scattered stores. Its index math is two 32-bit divisions per window (three when
// H is odd; 64-bit only past 2^31 input elements), where the former one-thread-per-input-element
// kernel did three 64-bit divisions with their modulos for every input element. Consecutive
// threads take consecutive channel groups, so a warp's every load and store covers consecutive
// 16-byte groups of channels (coalesced along C). Bytes moved: dx written once (4 per input
// element), dy and argmax read once (5 per pooled element), nothing more.
#include "kernels/cuda/maxpool.h"

#include "engine/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/pool2.cuh"

namespace knotnet::cuda {

namespace {

__global__ void maxpool2_forward_kernel(const float* __restrict__ x,  // (N, H, W, C)
                                        float* __restrict__ y,        // (N, OH, OW, C)
                                        uint8_t* __restrict__ argmax, // (N, OH, OW, C)
                                        int64_t n, int64_t h, int64_t w, int64_t c) {
  const int64_t total = n * (h / 2) * (w / 2) * c;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < total; o += stride) {
    const float* p0 = x + pool2_window_origin(o, h, w, c);  // top-left
    const float v0 = p0[0], v1 = p0[c], v2 = p0[w * c], v3 = p0[w * c + c];
    float best = v0;
    uint8_t at = 0;
    if (v1 > best) best = v1, at = 1;
    if (v2 > best) best = v2, at = 2;
    if (v3 > best) best = v3, at = 3;
    y[o] = best;
    argmax[o] = at;
  }
}

template <int VEC, class I>
__global__ void maxpool2_backward_kernel(const float* __restrict__ dy,       // (N, OH, OW, C)
                                         const uint8_t* __restrict__ argmax, // (N, OH, OW, C)
                                         float* __restrict__ dx,             // (N, H, W, C)
                                         Pool2Dims<I> d) {
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I t = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; t < d.items; t += stride) {
    const Pool2Window<I> win = pool2_window(t, d, VEC);
    float g[VEC];
    uint8_t at[VEC];
    load_vec<VEC>(dy + t * VEC, g);
    load_vec<VEC>(argmax + t * VEC, at);
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      float v[VEC];
#pragma unroll
      for (int k = 0; k < VEC; ++k) v[k] = at[k] == q ? g[k] : 0.0f;
      store_vec<VEC>(dx + win.origin + pool2_corner(q, d), v);
    }
    const float zero[VEC] = {};
    pool2_for_uncovered(win, d, [&](I off) { store_vec<VEC>(dx + off, zero); });
  }
}

}  // namespace

void maxpool2_forward(const float* x, float* y, uint8_t* argmax, int64_t n, int64_t h, int64_t w, int64_t c,
                      cudaStream_t stream) {
  const int64_t total = n * (h / 2) * (w / 2) * c;
  if (total <= 0) return;
  maxpool2_forward_kernel<<<grid_for(total), kBlock, 0, stream>>>(x, y, argmax, n, h, w, c);
  KN_CUDA_CHECK_LAUNCH();
}

void maxpool2_backward(const float* dy, const uint8_t* argmax, float* dx, int64_t n, int64_t h, int64_t w, int64_t c,
                       cudaStream_t stream) {
  const int64_t total = n * h * w * c;
  if (total <= 0) return;
  if (h < 2 || w < 2) {  // no window at all: dx is all zeros, and there is no window thread to write them
    KN_CUDA_CHECK(cudaMemsetAsync(dx, 0, static_cast<size_t>(total) * sizeof(float), stream));
    return;
  }
  const bool vec4 = c % 4 == 0 && pool2_aligned(dy, 16) && pool2_aligned(dx, 16) && pool2_aligned(argmax, 4);
  pool2_dispatch(vec4, total, [&](auto vec, auto index) {
    const auto d = pool2_dims<decltype(index)>(n, h, w, c, vec);
    const int64_t items = static_cast<int64_t>(d.items);
    maxpool2_backward_kernel<decltype(vec)::value><<<grid_for(items), kBlock, 0, stream>>>(dy, argmax, dx, d);
    KN_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace knotnet::cuda
