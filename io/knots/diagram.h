// A knot diagram: a 3D curve projected into image pixels, its crossings with over/under taken
// from the depths there and each crossing's sign, and the checks that make a diagram legible
// (no grazing crossings, no strands touching away from a crossing, gaps that fit).
//
// Coordinates: pixels, x = column, y = row (downwards), as the image is stored. The curve's
// frame has y up and z toward the viewer, so a larger depth is over, and crossing signs are
// computed with the row axis flipped back (see crossing_sign in diagram.cpp).
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "io/knots/curves.h"
#include "io/knots/kauffman.h"

namespace knotnet::knots {

struct Crossing {
  int over_segment = 0, under_segment = 0;  // segment i joins vertex i to vertex i+1 (mod n)
  double over_arc = 0, under_arc = 0;       // arc length (pixels) of each passage from vertex 0
  double x = 0, y = 0;                      // the crossing point (pixels)
  int sign = 0;                             // +1 positive, -1 negative
  double sin_angle = 0;                     // |sin| of the angle between the strands
  double depth_gap = 0;                     // over depth minus under depth (curve units)
};

struct Diagram {
  int size = 0;                  // image is size x size
  std::vector<double> x, y, depth;  // vertices of the closed polyline
  std::vector<double> arc;       // arc[i]: arc length at vertex i; arc[n] = length
  double length = 0;
  std::vector<Crossing> crossings;
};

// Where the curve goes in the image: its bounding box spans `fill` of the usable width
// (the image less a margin of `margin` pixels on each side), placed at fraction (u, v) of the
// remaining room.
struct Placement {
  double fill = 0.7, u = 0.5, v = 0.5, margin = 3;
};

// Projects `curve` (x right, y up, z toward the viewer) orthographically into a size x size
// image. Fills x, y, depth, arc and length; clears the crossings.
void project_curve(const std::vector<Vec3>& curve, int size, const Placement& placement, Diagram& d);

// Why a diagram was not used. Every reason except None makes the renderer draw again.
enum class Reject : uint8_t {
  None,
  Degenerate,        // overlapping collinear segments
  TooManyCrossings,  // more than kMaxCrossings
  ShallowCrossing,   // strands cross at a grazing angle
  DepthTie,          // the strands nearly touch in 3D at a crossing
  CrowdedCrossings,  // two crossings too close, or a gap would swallow a neighbouring passage
  NearMiss,          // two strands run close without crossing
  WrongInvariant,    // the Jones polynomial does not match the intended class
};
inline constexpr int kNumRejectReasons = 8;
std::string_view reject_name(Reject r);

inline constexpr int kMaxCrossings = 10;

// Scratch space reused between diagrams (one per thread).
struct DiagramWorkspace {
  std::vector<int> cell_start, cell_cursor, cell_items;
  std::vector<int> seg_cells;  // per segment: x0, y0, x1, y1 cell range
  struct NearPair {
    double arc_a, arc_b;
  };
  std::vector<NearPair> near_pairs;
  std::vector<std::pair<double, int>> passages;
};

// Finds the crossings of `d` and checks legibility for a stroke of half-width `half_width`
// pixels. Returns Reject::None when the diagram can be drawn unambiguously.
Reject find_crossings(Diagram& d, double half_width, DiagramWorkspace& ws);

// The signed Gauss code of the diagram, passages in order of arc length from vertex 0.
GaussCode gauss_code(const Diagram& d);
int diagram_writhe(const Diagram& d);

// An interval of arc length, begin < end, both within [0, length).
struct ArcInterval {
  double begin = 0, end = 0;
};

// Half the length of the under-strand left out at crossing `c`: room for the over-stroke
// ((half-width + 0.5) / sin angle), a fully clear stretch of max(1.5, half-width) pixels and
// the under-stroke's round cap (half-width + 0.5).
double gap_half_length(const Crossing& c, double half_width);

// The arc intervals of the under-strands to leave out, sorted and split at the wrap-around.
void under_gaps(const Diagram& d, double half_width, std::vector<ArcInterval>& gaps);

}  // namespace knotnet::knots
