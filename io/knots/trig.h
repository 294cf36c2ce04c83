// Sine and cosine for the curve generator, computed with plain IEEE arithmetic (range
// reduction and Taylor polynomials), so a seed gives bit-identical curves on every x86-64 or
// ARM machine; the C library picks its sin at run time by CPU features, and its variants may
// differ in the last bit. Accurate to about 1e-15 for |x| < 1e5, which is all the curves need.
#pragma once

#include <cmath>

namespace knotnet::knots {

struct SinCos {
  double sin, cos;
};

inline SinCos sincos_exact(double x) {
  // x = k * (pi/2) + r, |r| <= pi/4, with pi/2 split in two so the reduction stays exact.
  constexpr double kTwoOverPi = 0.63661977236758134308;
  constexpr double kHalfPiHi = 1.57079632673412561417;  // the first 33 bits of pi/2
  constexpr double kHalfPiLo = 6.07710050650619224932e-11;
  const double k = std::nearbyint(x * kTwoOverPi);
  const double r = (x - k * kHalfPiHi) - k * kHalfPiLo;
  const double r2 = r * r;
  // Taylor series to r^17 / r^18: the first omitted terms are below 2e-17 at |r| = pi/4.
  double s = 1.0 / 355687428096000.0;  // 1/17!
  s = s * r2 - 1.0 / 1307674368000.0;   // 1/15!
  s = s * r2 + 1.0 / 6227020800.0;
  s = s * r2 - 1.0 / 39916800.0;
  s = s * r2 + 1.0 / 362880.0;
  s = s * r2 - 1.0 / 5040.0;
  s = s * r2 + 1.0 / 120.0;
  s = s * r2 - 1.0 / 6.0;
  s = r + r * r2 * s;
  double c = 1.0 / 6402373705728000.0;  // 1/18!
  c = c * r2 - 1.0 / 20922789888000.0;   // 1/16!
  c = c * r2 + 1.0 / 87178291200.0;
  c = c * r2 - 1.0 / 479001600.0;
  c = c * r2 + 1.0 / 3628800.0;
  c = c * r2 - 1.0 / 40320.0;
  c = c * r2 + 1.0 / 720.0;
  c = c * r2 - 1.0 / 24.0;
  c = c * r2 + 0.5;
  c = 1.0 - r2 * c;
  switch (static_cast<long long>(k) & 3) {
    case 0: return {s, c};
    case 1: return {c, -s};
    case 2: return {-s, -c};
    default: return {-c, s};
  }
}

inline double sin_exact(double x) { return sincos_exact(x).sin; }
inline double cos_exact(double x) { return sincos_exact(x).cos; }

}  // namespace knotnet::knots
