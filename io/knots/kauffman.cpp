// Kauffman bracket by a state sum over smoothings, counting loops with a union-find over the
// diagram's edges. The one non-obvious choice: states are first tallied by (A-count minus
// B-count, loop count) and only then expanded into a polynomial, so the inner loop over 2^n
// states does integer work only.
#include "io/knots/kauffman.h"

#include <array>
#include <numeric>
#include <sstream>

#include "engine/error.h"

namespace knotnet::knots {

namespace {

constexpr int kMaxBracketCrossings = 24;

int find_root(std::vector<int>& parent, int x) {
  while (parent[static_cast<size_t>(x)] != x) {
    parent[static_cast<size_t>(x)] = parent[static_cast<size_t>(parent[static_cast<size_t>(x)])];
    x = parent[static_cast<size_t>(x)];
  }
  return x;
}

// p * q.
LaurentPolynomial multiply(const LaurentPolynomial& p, const LaurentPolynomial& q) {
  LaurentPolynomial r;
  if (p.coefficients.empty() || q.coefficients.empty()) return r;
  r.low = p.low + q.low;
  r.coefficients.assign(p.coefficients.size() + q.coefficients.size() - 1, 0);
  for (size_t i = 0; i < p.coefficients.size(); ++i)
    for (size_t j = 0; j < q.coefficients.size(); ++j) r.coefficients[i + j] += p.coefficients[i] * q.coefficients[j];
  return r;
}

void add_term(std::vector<int64_t>& c, int low, int exponent, int64_t value) {
  c[static_cast<size_t>(exponent - low)] += value;
}

}  // namespace

void LaurentPolynomial::trim() {
  size_t first = 0, last = coefficients.size();
  while (first < last && coefficients[first] == 0) ++first;
  while (last > first && coefficients[last - 1] == 0) --last;
  coefficients = std::vector<int64_t>(coefficients.begin() + static_cast<std::ptrdiff_t>(first),
                                      coefficients.begin() + static_cast<std::ptrdiff_t>(last));
  low = coefficients.empty() ? 0 : low + static_cast<int>(first);
}

std::string LaurentPolynomial::str(const char* variable) const {
  std::ostringstream os;
  bool first = true;
  for (size_t k = 0; k < coefficients.size(); ++k) {
    int64_t c = coefficients[k];
    if (c == 0) continue;
    int e = low + static_cast<int>(k);
    int64_t mag = c < 0 ? -c : c;
    if (first) os << (c < 0 ? "-" : "");
    else os << (c < 0 ? " - " : " + ");
    first = false;
    if (mag != 1 || e == 0) os << mag;
    if (e != 0) {
      os << variable;
      if (e != 1) os << '^' << e;
    }
  }
  return first ? "0" : os.str();
}

bool LaurentPolynomial::operator==(const LaurentPolynomial& o) const {
  LaurentPolynomial a = *this, b = o;
  a.trim();
  b.trim();
  return a.low == b.low && a.coefficients == b.coefficients;
}

void validate_gauss_code(const GaussCode& code) {
  size_t n = code.signs.size();
  KN_CHECK(code.passages.size() == 2 * n, "a Gauss code with ", n, " crossings needs ", 2 * n,
           " passages, got ", code.passages.size());
  std::vector<int> overs(n, 0), unders(n, 0);
  for (const Passage& p : code.passages) {
    KN_CHECK(p.crossing >= 0 && static_cast<size_t>(p.crossing) < n, "Gauss code passage names crossing ",
             p.crossing, ", expected 0..", static_cast<int>(n) - 1);
    (p.over ? overs : unders)[static_cast<size_t>(p.crossing)]++;
  }
  for (size_t c = 0; c < n; ++c) {
    KN_CHECK(overs[c] == 1 && unders[c] == 1, "crossing ", c, " of a Gauss code must be passed once over and once under, got ",
             overs[c], " over and ", unders[c], " under");
    KN_CHECK(code.signs[c] == 1 || code.signs[c] == -1, "crossing ", c, " has sign ", code.signs[c], ", expected +1 or -1");
  }
}

int writhe(const GaussCode& code) { return std::accumulate(code.signs.begin(), code.signs.end(), 0); }

LaurentPolynomial kauffman_bracket(const GaussCode& code) {
  validate_gauss_code(code);
  const int n = static_cast<int>(code.signs.size());
  KN_CHECK(n <= kMaxBracketCrossings, "the Kauffman bracket state sum is limited to ", kMaxBracketCrossings,
           " crossings, the diagram has ", n);
  LaurentPolynomial one{0, {1}};
  if (n == 0) return one;

  // Edge k runs from passage k to passage k+1. Each crossing's four edge ends in
  // counterclockwise order, starting at the incoming under-strand: positive crossings
  // (under-in, over-out, under-out, over-in), negative (under-in, over-in, under-out, over-out).
  const int edges = 2 * n;
  std::vector<std::array<int, 4>> ends(static_cast<size_t>(n));
  std::vector<int> under_at(static_cast<size_t>(n)), over_at(static_cast<size_t>(n));
  for (int k = 0; k < edges; ++k) {
    const Passage& p = code.passages[static_cast<size_t>(k)];
    (p.over ? over_at : under_at)[static_cast<size_t>(p.crossing)] = k;
  }
  for (int c = 0; c < n; ++c) {
    int u = under_at[static_cast<size_t>(c)], o = over_at[static_cast<size_t>(c)];
    int under_in = (u + edges - 1) % edges, under_out = u;
    int over_in = (o + edges - 1) % edges, over_out = o;
    ends[static_cast<size_t>(c)] = code.signs[static_cast<size_t>(c)] > 0
                                       ? std::array<int, 4>{under_in, over_out, under_out, over_in}
                                       : std::array<int, 4>{under_in, over_in, under_out, over_out};
  }

  // tally[(a - b + n) * (n + 2) + loops]: number of states with that A/B balance and loop count.
  // The A-smoothing joins ends (0,1) and (2,3); the B-smoothing joins (0,3) and (1,2).
  std::vector<int64_t> tally(static_cast<size_t>((2 * n + 1) * (n + 2)), 0);
  std::vector<int> parent(static_cast<size_t>(edges));
  for (uint32_t state = 0; state < (1u << n); ++state) {
    std::iota(parent.begin(), parent.end(), 0);
    int loops = edges, b_count = 0;
    auto join = [&](int x, int y) {
      int rx = find_root(parent, x), ry = find_root(parent, y);
      if (rx != ry) {
        parent[static_cast<size_t>(rx)] = ry;
        --loops;
      }
    };
    for (int c = 0; c < n; ++c) {
      const auto& e = ends[static_cast<size_t>(c)];
      if (state >> c & 1u) {
        ++b_count;
        join(e[0], e[3]);
        join(e[1], e[2]);
      } else {
        join(e[0], e[1]);
        join(e[2], e[3]);
      }
    }
    int balance = n - 2 * b_count;  // a - b
    tally[static_cast<size_t>((balance + n) * (n + 2) + loops)]++;
  }

  // <D> = sum over states of A^(a-b) d^(loops-1), d = -A^2 - A^-2.
  LaurentPolynomial d{-2, {-1, 0, 0, 0, -1}};
  std::vector<LaurentPolynomial> d_power(static_cast<size_t>(n + 2));
  d_power[0] = one;
  for (size_t k = 1; k < d_power.size(); ++k) d_power[k] = multiply(d_power[k - 1], d);
  const int low = -n - 2 * (n + 1), high = n + 2 * (n + 1);
  LaurentPolynomial bracket{low, std::vector<int64_t>(static_cast<size_t>(high - low + 1), 0)};
  for (int balance = -n; balance <= n; ++balance)
    for (int loops = 1; loops <= n + 1; ++loops) {
      int64_t count = tally[static_cast<size_t>((balance + n) * (n + 2) + loops)];
      if (count == 0) continue;
      const LaurentPolynomial& dp = d_power[static_cast<size_t>(loops - 1)];
      for (size_t k = 0; k < dp.coefficients.size(); ++k)
        add_term(bracket.coefficients, low, balance + dp.low + static_cast<int>(k), count * dp.coefficients[k]);
    }
  bracket.trim();
  return bracket;
}

LaurentPolynomial jones_polynomial(const GaussCode& code) {
  LaurentPolynomial f = kauffman_bracket(code);
  int w = writhe(code);
  // (-A^3)^(-w) = (-1)^w A^(-3w).
  int64_t sign = (w % 2 == 0) ? 1 : -1;
  for (auto& c : f.coefficients) c *= sign;
  f.low -= 3 * w;
  // A knot's normalised bracket has only exponents divisible by 4; t = A^-4.
  LaurentPolynomial v;
  if (f.coefficients.empty()) return v;
  int high = f.low + static_cast<int>(f.coefficients.size()) - 1;
  KN_CHECK(f.low % 4 == 0 && high % 4 == 0, "Gauss code does not describe a knot: normalised bracket exponents ",
           f.low, "..", high, " are not multiples of 4");
  v.low = -high / 4;
  v.coefficients.assign(static_cast<size_t>((high - f.low) / 4 + 1), 0);
  for (size_t k = 0; k < f.coefficients.size(); ++k) {
    int e = f.low + static_cast<int>(k);
    if (f.coefficients[k] == 0) continue;
    KN_CHECK(e % 4 == 0, "Gauss code does not describe a knot: normalised bracket has the exponent ", e);
    v.coefficients[static_cast<size_t>(-e / 4 - v.low)] = f.coefficients[k];
  }
  v.trim();
  return v;
}

std::optional<KnotClass> identify_knot(const LaurentPolynomial& jones) {
  if (jones == LaurentPolynomial{0, {1}}) return KnotClass::Unknot;
  if (jones == LaurentPolynomial{1, {1, 0, 1, -1}}) return KnotClass::PlusTrefoil;
  if (jones == LaurentPolynomial{-4, {-1, 1, 0, 1}}) return KnotClass::MinusTrefoil;
  return std::nullopt;
}

}  // namespace knotnet::knots
