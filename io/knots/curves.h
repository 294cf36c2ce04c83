// Closed 3D curves for the knot classes, and the random changes each sample gets before it is
// projected: a smooth deformation of space, a positive anisotropic scale and a rotation.
//
// The one non-obvious choice: the deformation moves every point of space by a field f whose
// Lipschitz constant is below 1, so x -> x + f(x) is injective and x -> x + s f(x), s in [0,1],
// is an isotopy. A deformed curve therefore never passes through itself and keeps its knot
// type by construction. Curls are different: a curl is added as an offset, and a large one can
// swing through a neighbouring strand; the invariant check in render.cpp catches those (about
// one sample in a thousand) and the sample is redrawn.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "io/knots/knot_types.h"
#include "io/knots/sample_random.h"

namespace knotnet::knots {

struct Vec3 {
  double x = 0, y = 0, z = 0;
};
inline Vec3 operator+(Vec3 a, Vec3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
inline Vec3 operator-(Vec3 a, Vec3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
inline Vec3 operator*(double s, Vec3 a) { return {s * a.x, s * a.y, s * a.z}; }
inline double dot(Vec3 a, Vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }

// A Reidemeister I twist: over the parameter window [t0 - half_width, t0 + half_width] the
// curve runs once around a loop of radius `radius` (curve units) on side `side` (+1 left of
// the direction of travel, -1 right), lifted by `lift` * radius so its crossing has depth.
struct Curl {
  double t0 = 0, half_width = 0, radius_factor = 0, lift = 0;
  int side = 1;
};

// One term of the deformation field: displacement amplitude * direction * sin(k . p + phase).
struct Wave {
  Vec3 displacement;  // direction times amplitude
  Vec3 wavevector;
  double phase = 0;
};

// Everything that decides one sample's 3D curve, drawn from the sample's random stream.
struct CurveSpec {
  CurveKind kind = CurveKind::Circle;
  int hand = 1;           // trefoils: +1 right-handed (plus), -1 left-handed (minus)
  int family = 0;         // trefoil projections: 0 the three-lobed curve, 1 the (2,3) torus knot
  double shape = 2.0;     // lobe size (family 0) or torus radius (family 1)
  double lift_phase = 0;  // switched trefoil: height = lift_amp * cos(t - lift_phase)
  double lift_amp = 1;
  int lobes = 0;           // circles: radius * (1 + lobe_depth * cos(lobes * t + lobe_phase))
  double lobe_depth = 0, lobe_phase = 0;
  int num_curls = 0;
  std::array<Curl, 2> curls{};
  std::array<Wave, 4> waves{};
  Vec3 scale{1, 1, 1};
  std::array<double, 9> rotation{1, 0, 0, 0, 1, 0, 0, 0, 1};  // row-major, applied last
};

// The mix of curve kinds: unknots are 25% deformed circles, 35% circles with one or two
// curls, 40% switched-crossing trefoil projections; trefoils are 75% plain, 25% with a curl.
CurveKind draw_curve_kind(KnotClass cls, SampleRandom& rng);

// Draws the shape, curls, deformation, scale and rotation of a curve of kind `kind`.
// `cls` gives the hand of trefoils (and must agree with `kind`).
CurveSpec draw_curve_spec(KnotClass cls, CurveKind kind, SampleRandom& rng);

// The same spec without deformation, scale or rotation: the standard curve of that kind,
// seen along the z axis. Used by the tests for hand-checked diagrams.
CurveSpec standard_curve_spec(CurveKind kind, int hand);

// Samples the closed curve at `n` points, uniformly in its parameter (the last point is joined
// to the first). Coordinates: x right, y up, z toward the viewer.
void build_curve(const CurveSpec& spec, int n, std::vector<Vec3>& out);

// The figure-eight knot (4_1), for the tests: a knot the classifier must call "other".
void build_figure_eight(int n, std::vector<Vec3>& out);

}  // namespace knotnet::knots
