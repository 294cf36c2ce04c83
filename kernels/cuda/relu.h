// ReLU on the GPU (device side of kernels/cpu/activation.h). Backward reads the output y.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace knotnet::cuda {

// x, y: (count); y may alias x.
void relu_forward(const float* x, float* y, int64_t count, cudaStream_t stream);
// y, dy, dx: (count); dx may alias dy. dx = dy where y > 0, else 0.
void relu_backward(const float* y, const float* dy, float* dx, int64_t count, cudaStream_t stream);

}  // namespace knotnet::cuda
