// The Jones polynomial of a knot diagram from its signed Gauss code, through the Kauffman
// bracket: a sum over the 2^n ways of smoothing the n crossings. That is cheap for the diagrams
// drawn here (at most a dozen crossings) and tells apart the unknot (V = 1), the right-handed
// trefoil (V = t + t^3 - t^4) and the left-handed one (V = t^-1 + t^-3 - t^-4).
//
// Conventions: a crossing is positive when, with both strands oriented, the over-strand
// reaches the under-strand by a counterclockwise turn of less than 180 degrees (sign of
// cross(over, under) in a frame with y up); the positive curl has bracket -A^3; t = A^-4.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/knots/knot_types.h"

namespace knotnet::knots {

// One pass of the curve through a crossing, in the order the curve is travelled.
struct Passage {
  int crossing = 0;
  bool over = false;
};

// A knot diagram as the sequence of its 2n passages and the sign (+1/-1) of each crossing.
struct GaussCode {
  std::vector<Passage> passages;
  std::vector<int> signs;
};

// Sum of coefficients[k] * x^(low + k).
struct LaurentPolynomial {
  int low = 0;
  std::vector<int64_t> coefficients;

  // Drops zero coefficients at both ends (the zero polynomial has no coefficients).
  void trim();
  // "t + t^3 - t^4", "1", "0".
  std::string str(const char* variable = "t") const;
  bool operator==(const LaurentPolynomial& o) const;
};

// Throws unless every crossing appears exactly twice, once over and once under, and has a
// sign of +1 or -1.
void validate_gauss_code(const GaussCode& code);

// Sum of the crossing signs.
int writhe(const GaussCode& code);

// The Kauffman bracket <D> in A, with <O> = 1.
LaurentPolynomial kauffman_bracket(const GaussCode& code);

// The Jones polynomial in t: (-A^3)^(-writhe) <D> with A = t^(-1/4).
LaurentPolynomial jones_polynomial(const GaussCode& code);

// The class whose Jones polynomial this is, or nothing for any other knot.
std::optional<KnotClass> identify_knot(const LaurentPolynomial& jones);

}  // namespace knotnet::knots
