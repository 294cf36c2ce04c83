// Colours and noise: turns a stroke coverage mask into an RGB image. Every sample draws its own
// background colour and gradient, stroke colour and noise level, independently of its class.
#pragma once

#include <cstdint>
#include <vector>

#include "io/knots/sample_random.h"

namespace knotnet::knots {

struct Style {
  float background[3] = {255, 255, 255};  // at the image centre
  float gradient_x = 0, gradient_y = 0;   // levels per pixel, added to every channel
  float stroke[3] = {0, 0, 0};
  int noise = 0;  // 0..9: per-channel noise is triangular with half-range 15 * noise / 16 levels
};

// Random colours with at least 90 levels of luminance between stroke and background centre
// (the gradient moves the background by at most 30 at the corners), and a random noise level.
Style draw_style(SampleRandom& rng, int size);

// rgb (size, size, 3) = background blended toward the stroke colour by coverage, plus noise
// drawn from `rng`.
void paint_image(const std::vector<uint8_t>& coverage, int size, const Style& style, SampleRandom& rng, uint8_t* rgb);

}  // namespace knotnet::knots
