// 2x2 stride-2 max-pooling forward and backward on the GPU, NHWC.
// Non-obvious choice: backward runs one thread per INPUT element (it asks "am I my window's
// recorded maximum?"), not per output element, so every dx element is written exactly once
// with no memset and no scattered stores; consecutive threads touch consecutive channels, so
// every load and store is coalesced.
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

__global__ void maxpool2_backward_kernel(const float* __restrict__ dy,       // (N, OH, OW, C)
                                         const uint8_t* __restrict__ argmax, // (N, OH, OW, C)
                                         float* __restrict__ dx,             // (N, H, W, C)
                                         int64_t n, int64_t h, int64_t w, int64_t c) {
  const int64_t total = n * h * w * c;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total; e += stride) {
    const Pool2Slot at = pool2_slot(e / c, e % c, h, w, c);
    dx[e] = at.pooled >= 0 && argmax[at.pooled] == at.corner ? dy[at.pooled] : 0.0f;
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
  maxpool2_backward_kernel<<<grid_for(total), kBlock, 0, stream>>>(dy, argmax, dx, n, h, w, c);
  KN_CUDA_CHECK_LAUNCH();
}

}  // namespace knotnet::cuda
