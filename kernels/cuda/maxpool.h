// 2x2 stride-2 max-pooling on the GPU, NHWC, floor mode (device side of kernels/cpu/pool.h).
// Forward records which of the four window positions won (0 top-left, 1 top-right,
// 2 bottom-left, 3 bottom-right; ties to the first), backward routes through it.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace knotnet::cuda {

// x: (N, H, W, C) -> y: (N, H/2, W/2, C), argmax: (N, H/2, W/2, C) in [0, 4).
void maxpool2_forward(const float* x, float* y, uint8_t* argmax, int64_t n, int64_t h, int64_t w, int64_t c,
                      cudaStream_t stream);
// dy: (N, H/2, W/2, C), argmax -> dx: (N, H, W, C), every element written (zeros off the maxima,
// and in the row/column an odd size drops).
void maxpool2_backward(const float* dy, const uint8_t* argmax, float* dx, int64_t n, int64_t h, int64_t w, int64_t c,
                       cudaStream_t stream);

}  // namespace knotnet::cuda
