// 2x2 stride-2 average-pooling forward and backward on the GPU, NHWC.
// Both walk windows the way the max-pool backward does (pool2.cuh): one thread per (window,
// group of VEC channels), VEC = 4 (float4 along C) when C % 4 == 0 and the pointers allow, else 1,
// consecutive threads on consecutive channel groups (coalesced along C). Forward reads the four
// inputs and writes one mean; backward reads one gradient and writes all four of its window's
// inputs plus the zeros of any uncovered odd row/column beside it, so every dx element is written
// exactly once, with no memset. Bytes moved: forward 4 per input + 4 per output element,
// backward 4 per output + 4 per input element.
#include "kernels/cuda/avgpool.h"

#include "engine/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/pool2.cuh"

namespace knotnet::cuda {

namespace {

template <int VEC, class I>
__global__ void avgpool2_forward_kernel(const float* __restrict__ x,  // (N, H, W, C)
                                        float* __restrict__ y,        // (N, OH, OW, C)
                                        Pool2Dims<I> d) {
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I t = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; t < d.items; t += stride) {
    const Pool2Window<I> win = pool2_window(t, d, VEC);
    float v[4][VEC];
#pragma unroll
    for (int q = 0; q < 4; ++q) load_vec<VEC>(x + win.origin + pool2_corner(q, d), v[q]);
    float m[VEC];
#pragma unroll
    for (int k = 0; k < VEC; ++k) m[k] = ((v[0][k] + v[1][k]) + (v[2][k] + v[3][k])) * 0.25f;  // no FMA to contract
    store_vec<VEC>(y + t * VEC, m);
  }
}

template <int VEC, class I>
__global__ void avgpool2_backward_kernel(const float* __restrict__ dy,  // (N, OH, OW, C)
                                         float* __restrict__ dx,        // (N, H, W, C)
                                         Pool2Dims<I> d) {
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I t = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; t < d.items; t += stride) {
    const Pool2Window<I> win = pool2_window(t, d, VEC);
    float g[VEC];
    load_vec<VEC>(dy + t * VEC, g);
#pragma unroll
    for (int k = 0; k < VEC; ++k) g[k] *= 0.25f;
#pragma unroll
    for (int q = 0; q < 4; ++q) store_vec<VEC>(dx + win.origin + pool2_corner(q, d), g);
    const float zero[VEC] = {};
    pool2_for_uncovered(win, d, [&](I off) { store_vec<VEC>(dx + off, zero); });
  }
}

}  // namespace

void avgpool2_forward(const float* x, float* y, int64_t n, int64_t h, int64_t w, int64_t c, cudaStream_t stream) {
  if (n * (h / 2) * (w / 2) * c <= 0) return;
  const bool vec4 = c % 4 == 0 && pool2_aligned(x, 16) && pool2_aligned(y, 16);
  pool2_dispatch(vec4, n * h * w * c, [&](auto vec, auto index) {
    const auto d = pool2_dims<decltype(index)>(n, h, w, c, vec);
    const int64_t items = static_cast<int64_t>(d.items);
    avgpool2_forward_kernel<decltype(vec)::value><<<grid_for(items), kBlock, 0, stream>>>(x, y, d);
    KN_CUDA_CHECK_LAUNCH();
  });
}

void avgpool2_backward(const float* dy, float* dx, int64_t n, int64_t h, int64_t w, int64_t c, cudaStream_t stream) {
  const int64_t total = n * h * w * c;
  if (total <= 0) return;
  if (h < 2 || w < 2) {  // no window at all: dx is all zeros, and there is no window thread to write them
    KN_CUDA_CHECK(cudaMemsetAsync(dx, 0, static_cast<size_t>(total) * sizeof(float), stream));
    return;
  }
  const bool vec4 = c % 4 == 0 && pool2_aligned(dy, 16) && pool2_aligned(dx, 16);
  pool2_dispatch(vec4, total, [&](auto vec, auto index) {
    const auto d = pool2_dims<decltype(index)>(n, h, w, c, vec);
    const int64_t items = static_cast<int64_t>(d.items);
    avgpool2_backward_kernel<decltype(vec)::value><<<grid_for(items), kBlock, 0, stream>>>(dy, dx, d);
    KN_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace knotnet::cuda
