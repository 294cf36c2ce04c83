// Chi-square mixing statistics (see shuffle_quality.h). The upper tail is the regularised
// incomplete gamma function Q(dof/2, x/2), by its series below a+1 and its continued fraction
// (modified Lentz) above, to about 1e-12 relative.
#include "io/shuffle_quality.h"

#include <cmath>

#include "engine/error.h"

namespace knotnet {

namespace {

double gamma_q(double a, double x) {
  if (x <= 0) return 1.0;
  const double log_prefix = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1) {
    double term = 1.0 / a, sum = term;
    for (int k = 1; k < 1000; ++k) {
      term *= x / (a + k);
      sum += term;
      if (std::fabs(term) < std::fabs(sum) * 1e-15) break;
    }
    return 1.0 - sum * std::exp(log_prefix);
  }
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int i = 1; i < 1000; ++i) {
    double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < 1e-15) break;
  }
  return std::exp(log_prefix) * h;
}

}  // namespace

double chi_square_upper_tail(double x, int dof) {
  KN_CHECK(dof > 0, "chi-square needs at least one degree of freedom");
  return gamma_q(0.5 * dof, 0.5 * x);
}

double chi_square_statistic(const std::vector<int64_t>& counts, const std::vector<double>& proportions) {
  KN_CHECK(counts.size() == proportions.size(), "chi-square: ", counts.size(), " counts for ", proportions.size(),
           " proportions");
  double n = 0;
  for (int64_t c : counts) n += static_cast<double>(c);
  double stat = 0;
  for (size_t c = 0; c < counts.size(); ++c) {
    if (proportions[c] <= 0) {
      KN_CHECK(counts[c] == 0, "chi-square: class ", c, " has proportion 0 but count ", counts[c]);
      continue;
    }
    double expected = n * proportions[c], diff = static_cast<double>(counts[c]) - expected;
    stat += diff * diff / expected;
  }
  return stat;
}

MixingReport mixing_report(const std::vector<std::vector<int64_t>>& batch_counts, const std::vector<double>& proportions,
                           int64_t batch, double alpha, double presence_share) {
  MixingReport r;
  int present = 0;
  for (double p : proportions) present += p > 0;
  for (const auto& counts : batch_counts) {
    int64_t n = 0;
    for (int64_t c : counts) n += c;
    if (n != batch) continue;
    ++r.batches;
    if (present >= 2 && chi_square_upper_tail(chi_square_statistic(counts, proportions), present - 1) < alpha)
      ++r.failing;
    for (size_t c = 0; c < counts.size(); ++c)
      if (proportions[c] >= presence_share && counts[c] == 0) {
        ++r.missing_major_class;
        break;
      }
  }
  return r;
}

}  // namespace knotnet
