#include "io/toy_data.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/rng.h"

namespace knotnet {

ToyBatch make_toy_batch(int64_t first, int64_t n, int64_t height, int64_t width, uint64_t seed) {
  KN_CHECK(n > 0 && height > 0 && width > 0, "toy batch needs positive sizes");
  ToyBatch b;
  b.n = n;
  b.height = height;
  b.width = width;
  b.images.resize(static_cast<size_t>(n * height * width * 3));
  b.labels.resize(static_cast<size_t>(n));
  constexpr double kPi = 3.14159265358979323846;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t id = static_cast<uint64_t>(first + i);
    auto u = [&](uint64_t k) { return random_uniform_double(seed, id, k); };
    const int label = static_cast<int>(random_bits(seed, id, 0) % 3);
    b.labels[static_cast<size_t>(i)] = label;
    const double period = 3.0 + 3.0 * u(1), phase = 2 * kPi * u(2);
    double fg[3], bg[3];
    for (int c = 0; c < 3; ++c) {
      fg[c] = 140 + 115 * u(3 + c);
      bg[c] = 100 * u(6 + c);
    }
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < width; ++x) {
        double t = label == 0 ? double(y) : label == 1 ? double(x) : double(x + y) / std::sqrt(2.0);
        double s = 0.5 + 0.5 * std::sin(2 * kPi * t / period + phase);
        for (int c = 0; c < 3; ++c) {
          uint64_t k = 16 + static_cast<uint64_t>((y * width + x) * 3 + c);
          double v = bg[c] + (fg[c] - bg[c]) * s + 40.0 * (u(k) - 0.5);
          b.images[static_cast<size_t>(((i * height + y) * width + x) * 3 + c)] =
              static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
        }
      }
  }
  return b;
}

}  // namespace knotnet
