// Launch helpers shared by the CUDA kernel files: grid sizes for grid-stride loops, and the
// block-size constant most elementwise kernels use. Device-side only where marked.
#pragma once

#include <algorithm>
#include <cstdint>

namespace knotnet::cuda {

constexpr int kBlock = 256;  // threads per block for elementwise and grid-stride kernels

// Blocks for a grid-stride loop over `count` items: enough to fill an H100/H200 several times
// over (132 SMs x 8 resident blocks of 256), never more than the items need, at least 1.
inline unsigned grid_for(int64_t count, int block = kBlock) {
  const int64_t want = (count + block - 1) / block;
  return static_cast<unsigned>(std::clamp<int64_t>(want, 1, 132 * 8 * 4));
}

}  // namespace knotnet::cuda
