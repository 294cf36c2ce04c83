// The knot diagram's stroke as an antialiased coverage mask: round-capped thick segments along
// the closed polyline, with the under-strand left out around every crossing.
#pragma once

#include <cstdint>
#include <vector>

#include "io/knots/diagram.h"

namespace knotnet::knots {

// Coverage (0 = background, 255 = stroke) of a stroke of half-width `half_width` pixels along
// d's closed polyline, leaving out the arc intervals `gaps` (sorted, disjoint). `coverage` is
// resized to d.size * d.size (row-major) and cleared first.
void stroke_coverage(const Diagram& d, const std::vector<ArcInterval>& gaps, double half_width,
                     std::vector<uint8_t>& coverage);

// Raises coverage (row-major size x size) to that of the capsule around segment a-b: a pixel
// whose centre lies at distance r from the segment gets clamp(half_width + 0.5 - r, 0, 1).
void draw_capsule(uint8_t* coverage, int size, float ax, float ay, float bx, float by, float half_width);

}  // namespace knotnet::knots
