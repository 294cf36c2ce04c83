// ReLU forward (y = max(x, 0)) and backward (dx = dy where y > 0) on the GPU.
// Non-obvious choice: no __restrict__ on the pointers, because y may alias x and dx may alias dy
// (in-place use); each element is read before it is written by the same thread, so aliasing is
// safe without it.
#include "kernels/cuda/relu.h"

#include "engine/cuda_check.h"
#include "kernels/cuda/launch.h"

namespace knotnet::cuda {

namespace {

__global__ void relu_forward_kernel(const float* x,  // (count)
                                    float* y,        // (count)
                                    int64_t count) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count; i += stride) {
    const float v = x[i];
    y[i] = v > 0.0f ? v : 0.0f;
  }
}

__global__ void relu_backward_kernel(const float* y,   // (count)
                                     const float* dy,  // (count)
                                     float* dx,        // (count)
                                     int64_t count) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count; i += stride)
    dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

}  // namespace

void relu_forward(const float* x, float* y, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  relu_forward_kernel<<<grid_for(count), kBlock, 0, stream>>>(x, y, count);
  KN_CUDA_CHECK_LAUNCH();
}

void relu_backward(const float* y, const float* dy, float* dx, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  relu_backward_kernel<<<grid_for(count), kBlock, 0, stream>>>(y, dy, dx, count);
  KN_CUDA_CHECK_LAUNCH();
}

}  // namespace knotnet::cuda
