// Inverted dropout on the GPU (device side of kernels/cpu/dropout.h): the mask is a pure
// function of (seed, stream, flat index), so the GPU and the CPU drop exactly the same elements
// and backward regenerates the mask instead of storing it.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace knotnet::cuda {

// x -> y, both (count); y may alias x. rate in [0, 1). stream_id: fnv1a64(layer name) + step.
void dropout_forward(const float* x, float* y, int64_t count, double rate, uint64_t seed, uint64_t stream_id,
                     cudaStream_t stream);
// dx = dy * mask / (1 - rate), the same mask; dx may alias dy.
void dropout_backward(const float* dy, float* dx, int64_t count, double rate, uint64_t seed, uint64_t stream_id,
                      cudaStream_t stream);

}  // namespace knotnet::cuda
