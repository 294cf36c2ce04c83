// uint8 -> float input conversion and one-hot targets on the GPU.
// Non-obvious choice: the scale is the float 1/255 multiplied in, exactly as the CPU reference
// does (x * (1.0f/255.0f), not x / 255.0f), so both backends produce bit-identical inputs.
#include "kernels/cuda/convert.h"

#include "engine/cuda_check.h"
#include "kernels/cuda/launch.h"

namespace knotnet::cuda {

namespace {

// Each thread converts 4 consecutive bytes per iteration when the whole quad is in range
// (one 32-bit load), and the tail one byte at a time.
__global__ void u8_to_unit_kernel(const uint8_t* __restrict__ x,  // (n)
                                  float* __restrict__ y,          // (n)
                                  int64_t n) {
  const float scale = 1.0f / 255.0f;
  const int64_t quads = n / 4;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const bool aligned = (reinterpret_cast<uintptr_t>(x) % 4 == 0) && (reinterpret_cast<uintptr_t>(y) % 16 == 0);
  if (aligned) {
    const uint32_t* xq = reinterpret_cast<const uint32_t*>(x);
    float4* yq = reinterpret_cast<float4*>(y);
    for (int64_t q = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; q < quads; q += stride) {
      const uint32_t v = xq[q];
      float4 o;
      o.x = static_cast<float>(v & 0xFFu) * scale;
      o.y = static_cast<float>((v >> 8) & 0xFFu) * scale;
      o.z = static_cast<float>((v >> 16) & 0xFFu) * scale;
      o.w = static_cast<float>((v >> 24) & 0xFFu) * scale;
      yq[q] = o;
    }
  }
  const int64_t start = aligned ? quads * 4 : 0;
  for (int64_t i = start + blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride)
    y[i] = static_cast<float>(x[i]) * scale;
}

__global__ void onehot_kernel(const int32_t* __restrict__ labels,  // (n)
                              float* __restrict__ onehot,          // (n, k)
                              int64_t n, int64_t k, int* bad) {
  const int64_t total = n * k;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += stride) {
    const int64_t row = i / k, col = i % k;
    const int32_t label = labels[row];
    if (label < 0 || label >= k) {
      if (bad) *bad = 1;
      onehot[i] = 0.0f;
    } else {
      onehot[i] = col == label ? 1.0f : 0.0f;
    }
  }
}

__global__ void fill_kernel(float* __restrict__ p, int64_t n, float value) {  // p: (n)
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += stride) p[i] = value;
}

}  // namespace

void fill(float* p, int64_t n, float value, cudaStream_t stream) {
  if (n <= 0) return;
  fill_kernel<<<grid_for(n), kBlock, 0, stream>>>(p, n, value);
  KN_CUDA_CHECK_LAUNCH();
}

void u8_to_unit(const uint8_t* x, float* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  u8_to_unit_kernel<<<grid_for((n + 3) / 4), kBlock, 0, stream>>>(x, y, n);
  KN_CUDA_CHECK_LAUNCH();
}

void indices_to_onehot(const int32_t* labels, float* onehot, int64_t n, int64_t k, int* bad, cudaStream_t stream) {
  if (n <= 0 || k <= 0) return;
  onehot_kernel<<<grid_for(n * k), kBlock, 0, stream>>>(labels, onehot, n, k, bad);
  KN_CUDA_CHECK_LAUNCH();
}

}  // namespace knotnet::cuda
