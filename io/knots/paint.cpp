// Background gradient, stroke blend and noise in one pass over the image. The one non-obvious
// choice: the noise comes eight values to each 64-bit draw (one byte each, triangular from the
// difference of its two nibbles, looked up in a table), so noising a 128x128x3 image costs
// about 6,000 hashes and no branches.
#include "io/knots/paint.h"

#include <algorithm>
#include <cmath>

namespace knotnet::knots {

namespace {
float luminance(const float c[3]) { return 0.299f * c[0] + 0.587f * c[1] + 0.114f * c[2]; }
}  // namespace

Style draw_style(SampleRandom& rng, int size) {
  Style s;
  for (float& c : s.background) c = static_cast<float>(rng.uniform(0, 255));
  const float half = static_cast<float>(size) / 2;
  s.gradient_x = static_cast<float>(rng.uniform(-15, 15)) / half;
  s.gradient_y = static_cast<float>(rng.uniform(-15, 15)) / half;
  const float bg = luminance(s.background);
  bool found = false;
  for (int tries = 0; tries < 16 && !found; ++tries) {
    for (float& c : s.stroke) c = static_cast<float>(rng.uniform(0, 255));
    found = std::abs(luminance(s.stroke) - bg) >= 90;
  }
  if (!found) {
    float v = bg > 127.5f ? 0.0f : 255.0f;
    for (float& c : s.stroke) c = v;
  }
  s.noise = rng.below(10);
  return s;
}

void paint_image(const std::vector<uint8_t>& coverage, int size, const Style& style, SampleRandom& rng, uint8_t* rgb) {
  const float centre = static_cast<float>(size - 1) / 2;
  const size_t row_len = static_cast<size_t>(size) * 3;
  // Row-independent parts, laid out like a row of interleaved RGB so the inner loops are plain
  // element-wise arithmetic that the compiler vectorises.
  std::vector<float> base(row_len), stroke(row_len), alpha(row_len), value(row_len);
  std::vector<uint8_t> noise(row_len + 8, 0);
  for (size_t k = 0; k < row_len; ++k) {
    const float x = static_cast<float>(k / 3);
    base[k] = style.background[k % 3] + style.gradient_x * (x - centre);
    stroke[k] = style.stroke[k % 3];
  }
  const float noise_scale = static_cast<float>(style.noise) * (1.0f / 16.0f);
  for (int y = 0; y < size; ++y) {
    if (style.noise)
      for (size_t k = 0; k < row_len; k += 8) {
        uint64_t bits = rng.bits();
        for (size_t j = 0; j < 8; ++j) noise[k + j] = static_cast<uint8_t>(bits >> (8 * j));
      }
    const float row_shift = style.gradient_y * (static_cast<float>(y) - centre) + 0.5f;  // + 0.5 rounds
    const uint8_t* cov = coverage.data() + static_cast<size_t>(y) * static_cast<size_t>(size);
    for (int x = 0; x < size; ++x) {
      const float a = static_cast<float>(cov[x]) * (1.0f / 255.0f);
      alpha[3 * static_cast<size_t>(x)] = alpha[3 * static_cast<size_t>(x) + 1] = alpha[3 * static_cast<size_t>(x) + 2] = a;
    }
    for (size_t k = 0; k < row_len; ++k) {
      const float bg = base[k] + row_shift;
      const int n = (noise[k] & 15) - (noise[k] >> 4);
      value[k] = bg + alpha[k] * (stroke[k] - bg) + static_cast<float>(n) * noise_scale;
    }
    uint8_t* out = rgb + static_cast<size_t>(y) * row_len;
    for (size_t k = 0; k < row_len; ++k) out[k] = static_cast<uint8_t>(std::min(std::max(value[k], 0.0f), 255.0f));
  }
}

}  // namespace knotnet::knots
