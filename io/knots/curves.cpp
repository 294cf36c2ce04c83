// Closed 3D curves: circles, the two trefoil projections (three-lobed curve and (2,3) torus
// knot) with their heights, curls, and the per-sample deformation, scale and rotation. All
// trigonometry goes through trig.h, so curves are bit-identical on every machine.
// The trefoil heights are signed so that hand +1 gives positive crossings in the standard view
// (tests/test_knots_invariant.cpp checks writhe +3 and the right-handed Jones polynomial).
#include "io/knots/curves.h"

#include <cmath>
#include <numbers>

#include "engine/error.h"
#include "io/knots/trig.h"

namespace knotnet::knots {

namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kCircleRadius = 2.5;     // about the trefoils' extent, so sizes match
constexpr double kMaxTilt = 35.0 * kPi / 180.0;  // view within 35 degrees of the curve's axis
constexpr double kLipschitz = 0.6;         // deformation field's bound (must stay below 1)

Vec3 random_unit(SampleRandom& rng) {
  double z = rng.uniform(-1.0, 1.0), phi = rng.uniform(0.0, 2 * kPi);
  double r = std::sqrt(std::max(0.0, 1 - z * z));
  SinCos a = sincos_exact(phi);
  return {r * a.cos, r * a.sin, z};
}

// Zero first and second derivatives at 0 and 1, so a curl joins its curve smoothly.
double smootherstep(double v) { return v * v * v * (v * (v * 6 - 15) + 10); }

// The undeformed curve at parameter t in [0, 2 pi), before curls.
Vec3 base_point(const CurveSpec& s, double t) {
  switch (s.kind) {
    case CurveKind::Circle:
    case CurveKind::CurledCircle: {
      // A star-shaped (polar) curve never crosses itself; the lobes give it about a trefoil's
      // length, so the amount of ink does not tell unknots from trefoils.
      double r = kCircleRadius * (1 + s.lobe_depth * cos_exact(s.lobes * t + s.lobe_phase));
      SinCos a = sincos_exact(t);
      return {r * a.cos, r * a.sin, 0.0};
    }
    case CurveKind::SwitchedTrefoil:
    case CurveKind::Trefoil:
    case CurveKind::CurledTrefoil: {
      Vec3 p;
      SinCos a1 = sincos_exact(t), a2 = sincos_exact(2 * t), a3 = sincos_exact(3 * t);
      if (s.family == 0) {
        p = {a1.sin + s.shape * a2.sin, a1.cos - s.shape * a2.cos, s.hand * a3.sin};
      } else {
        double r = s.shape + a3.cos;
        p = {r * a2.cos, r * a2.sin, -s.hand * a3.sin};
      }
      // One maximum and one minimum of height: a one-bridge curve, hence an unknot, whose
      // diagram is the trefoil projection with (at least) one crossing switched.
      if (s.kind == CurveKind::SwitchedTrefoil) p.z = s.lift_amp * cos_exact(t - s.lift_phase);
      return p;
    }
  }
  return {};
}

// A curl's frame: the direction of its window's chord, the normal toward its side, its radius.
struct CurlFrame {
  double tx = 1, ty = 0, nx = 0, ny = 1, radius = 0;
};

CurlFrame curl_frame(const CurveSpec& s, const Curl& c) {
  Vec3 a = base_point(s, c.t0 - c.half_width), b = base_point(s, c.t0 + c.half_width);
  double tx = b.x - a.x, ty = b.y - a.y;
  double chord = std::sqrt(tx * tx + ty * ty);
  CurlFrame f;
  if (chord < 1e-9) return f;  // radius 0: no curl
  f.tx = tx / chord;
  f.ty = ty / chord;
  f.nx = -f.ty * c.side;
  f.ny = f.tx * c.side;
  f.radius = c.radius_factor * chord;
  return f;
}

// Offset of curl `c` at parameter t (zero outside its window).
Vec3 curl_offset(const Curl& c, const CurlFrame& f, double t) {
  double d = std::remainder(t - c.t0, 2 * kPi);  // in (-pi, pi]
  if (std::abs(d) >= c.half_width) return {};
  double theta = 2 * kPi * smootherstep((d + c.half_width) / (2 * c.half_width));
  SinCos a = sincos_exact(theta);
  double along = f.radius * a.sin, across = f.radius * (1 - a.cos);
  return {along * f.tx + across * f.nx, along * f.ty + across * f.ny, c.lift * f.radius * a.sin};
}

Vec3 deform(const CurveSpec& s, Vec3 p) {
  Vec3 q = p;
  for (const Wave& w : s.waves) q = q + sin_exact(dot(w.wavevector, p) + w.phase) * w.displacement;
  q = {q.x * s.scale.x, q.y * s.scale.y, q.z * s.scale.z};
  const auto& r = s.rotation;
  return {r[0] * q.x + r[1] * q.y + r[2] * q.z, r[3] * q.x + r[4] * q.y + r[5] * q.z,
          r[6] * q.x + r[7] * q.y + r[8] * q.z};
}

}  // namespace

CurveKind draw_curve_kind(KnotClass cls, SampleRandom& rng) {
  double u = rng.uniform();
  if (cls == KnotClass::Unknot)
    return u < 0.25 ? CurveKind::Circle : u < 0.60 ? CurveKind::CurledCircle : CurveKind::SwitchedTrefoil;
  return u < 0.75 ? CurveKind::Trefoil : CurveKind::CurledTrefoil;
}

CurveSpec standard_curve_spec(CurveKind kind, int hand) {
  CurveSpec s;
  s.kind = kind;
  s.hand = hand;
  for (Wave& w : s.waves) w = Wave{};
  return s;
}

CurveSpec draw_curve_spec(KnotClass cls, CurveKind kind, SampleRandom& rng) {
  bool trefoil_kind = kind == CurveKind::Trefoil || kind == CurveKind::CurledTrefoil;
  KN_CHECK(trefoil_kind == (cls != KnotClass::Unknot), "curve kind ", curve_kind_name(kind),
           " does not make a knot of class ", class_name(cls));
  CurveSpec s;
  s.kind = kind;
  s.hand = cls == KnotClass::PlusTrefoil ? 1 : cls == KnotClass::MinusTrefoil ? -1 : rng.sign();
  s.family = rng.below(2);
  s.shape = s.family == 0 ? rng.uniform(1.6, 2.4) : rng.uniform(1.7, 2.4);
  s.lift_phase = rng.uniform(0.0, 2 * kPi);
  s.lift_amp = rng.uniform(0.8, 1.5);
  s.lobes = 2 + rng.below(3);
  s.lobe_depth = rng.uniform(0.0, 0.35);
  s.lobe_phase = rng.uniform(0.0, 2 * kPi);

  s.num_curls = kind == CurveKind::CurledCircle ? 1 + rng.below(2) : kind == CurveKind::CurledTrefoil ? 1 : 0;
  double first = rng.uniform(0.0, 2 * kPi);
  for (int i = 0; i < s.num_curls; ++i) {
    Curl& c = s.curls[static_cast<size_t>(i)];
    // Two curls sit at least a third of the way round from each other.
    c.t0 = i == 0 ? first : first + rng.uniform(2 * kPi / 3, 4 * kPi / 3);
    c.half_width = kind == CurveKind::CurledCircle ? rng.uniform(0.28, 0.42) : rng.uniform(0.16, 0.24);
    c.radius_factor = rng.uniform(0.32, 0.45);
    c.side = rng.sign();
    c.lift = rng.sign() * rng.uniform(0.8, 1.4);
  }

  // Lipschitz constant of the field: sum over waves of amplitude * |wavevector| <= kLipschitz.
  for (Wave& w : s.waves) {
    double freq = rng.uniform(0.35, 1.1);
    double amp = kLipschitz / static_cast<double>(s.waves.size()) * rng.uniform(0.5, 1.0) / freq;
    w.wavevector = freq * random_unit(rng);
    w.displacement = amp * random_unit(rng);
    w.phase = rng.uniform(0.0, 2 * kPi);
  }
  s.scale = {rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2), rng.uniform(0.8, 1.2)};

  // Rotation: tilt by up to kMaxTilt about a random in-plane axis, then spin about z.
  double beta = rng.uniform(0.0, 2 * kPi), alpha = kMaxTilt * std::sqrt(rng.uniform());
  double psi = rng.uniform(0.0, 2 * kPi);
  SinCos b = sincos_exact(beta), a = sincos_exact(alpha), p = sincos_exact(psi);
  double ux = b.cos, uy = b.sin, ca = a.cos, sa = a.sin;
  // Rodrigues' formula for the axis (ux, uy, 0).
  double tilt[9] = {ca + ux * ux * (1 - ca), ux * uy * (1 - ca), uy * sa,
                    ux * uy * (1 - ca), ca + uy * uy * (1 - ca), -ux * sa,
                    -uy * sa, ux * sa, ca};
  double cp = p.cos, sp = p.sin;
  double spin[9] = {cp, -sp, 0, sp, cp, 0, 0, 0, 1};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double v = 0;
      for (int k = 0; k < 3; ++k) v += spin[i * 3 + k] * tilt[k * 3 + j];
      s.rotation[static_cast<size_t>(i * 3 + j)] = v;
    }
  return s;
}

void build_curve(const CurveSpec& spec, int n, std::vector<Vec3>& out) {
  KN_CHECK(n >= 8, "a curve needs at least 8 points, got ", n);
  out.resize(static_cast<size_t>(n));
  std::array<CurlFrame, 2> frames;
  for (int c = 0; c < spec.num_curls; ++c) frames[static_cast<size_t>(c)] = curl_frame(spec, spec.curls[static_cast<size_t>(c)]);
  for (int i = 0; i < n; ++i) {
    double t = 2 * kPi * i / n;
    Vec3 p = base_point(spec, t);
    for (int c = 0; c < spec.num_curls; ++c)
      p = p + curl_offset(spec.curls[static_cast<size_t>(c)], frames[static_cast<size_t>(c)], t);
    out[static_cast<size_t>(i)] = deform(spec, p);
  }
}

void build_figure_eight(int n, std::vector<Vec3>& out) {
  KN_CHECK(n >= 8, "a curve needs at least 8 points, got ", n);
  out.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    double t = 2 * kPi * i / n;
    double r = 2 + cos_exact(2 * t);
    SinCos a = sincos_exact(3 * t);
    out[static_cast<size_t>(i)] = {r * a.cos, r * a.sin, sin_exact(4 * t)};
  }
}

}  // namespace knotnet::knots
