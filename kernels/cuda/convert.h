// Input conversion on the GPU (the device side of kernels/cpu/convert.h): uint8 pixels to
// float in [0, 1], and class indices to one-hot rows.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace knotnet::cuda {

// x: (n) uint8 -> y: (n) float, y = x * (1/255), the same float operation as the CPU reference.
void u8_to_unit(const uint8_t* x, float* y, int64_t n, cudaStream_t stream);

// labels: (n) int32 in [0, k) -> onehot: (n, k) floats. An index outside [0, k) gives an all-zero
// row and sets *bad (device int, may be null) to 1; the host checks labels before copying, so
// this is a second line of defence, not the validation.
void indices_to_onehot(const int32_t* labels, float* onehot, int64_t n, int64_t k, int* bad, cudaStream_t stream);

// p: (n) = value (optimizer state initialisation, e.g. Adagrad's 0.1).
void fill(float* p, int64_t n, float value, cudaStream_t stream);

}  // namespace knotnet::cuda
