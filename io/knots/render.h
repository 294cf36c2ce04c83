// One dataset sample: "sample `index` of class `cls` under `seed`" -> an RGB image, its label
// and its crossings. Each attempt draws a curve, projects it, finds its crossings and checks
// that the diagram is legible and that its Jones polynomial names the intended class; a failed
// attempt is redrawn from the next attempt's stream, so the bytes depend only on
// (seed, index, class), never on threads or order.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "io/knots/curves.h"
#include "io/knots/diagram.h"
#include "io/knots/knot_types.h"
#include "io/knots/paint.h"
#include "io/knots/sample_random.h"

namespace knotnet::knots {

// Generator version, written into every file: bump it whenever the same seed would give
// different bytes.
inline constexpr int kGeneratorVersion = 1;
inline constexpr int kMaxAttempts = 1000;
inline constexpr int kMinImageSize = 32, kMaxImageSize = 1024;

// Scratch space reused from sample to sample (one per thread).
struct RenderWorkspace {
  std::vector<Vec3> curve;
  Diagram diagram;
  DiagramWorkspace scratch;
  std::vector<ArcInterval> gaps;
  std::vector<uint8_t> coverage;
};

// What one attempt drew before rasterising.
struct Geometry {
  CurveKind kind = CurveKind::Circle;
  double half_width = 1;
  Reject reject = Reject::None;
};

struct SampleInfo {
  KnotClass label = KnotClass::Unknot;
  CurveKind kind = CurveKind::Circle;
  int attempts = 0;  // 1 when the first draw was used
  int crossings = 0;
  int writhe = 0;
  std::array<int, kNumRejectReasons> rejects{};  // why earlier attempts were redrawn
};

// Number of curve points for an image of `size` pixels.
int curve_points(int size);

// Draws one attempt's curve, projection and crossings into ws.diagram from `rng` and checks
// legibility (not the invariant). geometry.reject says why it cannot be used, or None.
Geometry draw_geometry(KnotClass cls, int size, SampleRandom& rng, RenderWorkspace& ws);

// Reject::None when the Jones polynomial of `d` names class `cls`, else Reject::WrongInvariant.
Reject check_invariant(const Diagram& d, KnotClass cls);

// Renders sample `index` of class `cls` into rgb (size, size, 3). Throws if kMaxAttempts
// attempts fail (which would be a bug, not bad luck).
SampleInfo render_sample(uint64_t seed, uint64_t index, KnotClass cls, int size, uint8_t* rgb, RenderWorkspace& ws);

}  // namespace knotnet::knots
