// A synthetic, separable three-class image problem for demos and tests that must not depend on
// a data file: class 0 has horizontal stripes, class 1 vertical, class 2 diagonal, each with a
// random period, phase and colours, plus pixel noise. A small conv net learns it in a few
// hundred steps; a linear model on raw pixels does not do well, since phase is random.
#pragma once

#include <cstdint>
#include <vector>

namespace knotnet {

struct ToyBatch {
  int64_t n = 0, height = 0, width = 0;
  std::vector<uint8_t> images;  // (n, height, width, 3)
  std::vector<int32_t> labels;  // (n), balanced over 3 classes
};

// Samples first .. first+n-1 of the toy problem under `seed`; deterministic.
ToyBatch make_toy_batch(int64_t first, int64_t n, int64_t height, int64_t width, uint64_t seed);

}  // namespace knotnet
