// 2x2 stride-2 average-pooling on the GPU, NHWC, floor mode (device side of kernels/cpu/pool.h,
// with the same order of summation, so forward matches the CPU bit for bit). The multiplications
// by 0.25 are exact for normal results; subnormal ones round alike on both sides unless the GPU
// code is built to flush them (-ftz=true or --use_fast_math, which knotnet does not use).
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace knotnet::cuda {

// x: (N, H, W, C) -> y: (N, H/2, W/2, C).
void avgpool2_forward(const float* x, float* y, int64_t n, int64_t h, int64_t w, int64_t c, cudaStream_t stream);
// dy: (N, H/2, W/2, C) -> dx: (N, H, W, C), every element written (a quarter of the window's
// gradient on each of its inputs, zeros in the row/column an odd size drops).
void avgpool2_backward(const float* dy, float* dx, int64_t n, int64_t h, int64_t w, int64_t c, cudaStream_t stream);

}  // namespace knotnet::cuda
