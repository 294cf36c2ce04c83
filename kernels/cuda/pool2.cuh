// The 2x2 stride-2 max-pool's index arithmetic over NHWC tensors, shared by the max-pool kernels
// (maxpool.cu) and the fused batch-norm + ReLU + pool kernels (fused_bn_relu_pool.cu,
// bn_common.cuh). An odd last row or column belongs to no window.
#pragma once

#include <cstdint>

namespace knotnet::cuda {

// The offset of the top-left input of the window of pooled element o, o indexing (N, H/2, W/2, C)
// and the input being (N, H, W, C); the window's other inputs are at +c, +w*c and +w*c+c.
__device__ __forceinline__ int64_t pool2_window_origin(int64_t o, int64_t h, int64_t w, int64_t c) {
  const int64_t oh = h / 2, ow = w / 2;
  const int64_t ch = o % c;
  int64_t t = o / c;
  const int64_t j = t % ow;
  t /= ow;
  const int64_t i = t % oh;
  const int64_t s = t / oh;
  return ((s * h + 2 * i) * w + 2 * j) * c + ch;
}

// Where input element (r, ch) lands, r indexing the (N, H, W) positions: the pooled element whose
// window holds it and its corner there (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right,
// as the forward's argmax records it); pooled = -1 when no window holds it.
struct Pool2Slot {
  int64_t pooled;
  int corner;
};

__device__ __forceinline__ Pool2Slot pool2_slot(int64_t r, int64_t ch, int64_t h, int64_t w, int64_t c) {
  const int64_t col = r % w;
  const int64_t t = r / w;
  const int64_t row = t % h;
  const int64_t s = t / h;
  const int64_t oh = h / 2, ow = w / 2;
  const int64_t i = row / 2, j = col / 2;
  if (i >= oh || j >= ow) return {-1, 0};
  return {((s * oh + i) * ow + j) * c + ch, static_cast<int>((row % 2) * 2 + (col % 2))};
}

}  // namespace knotnet::cuda
