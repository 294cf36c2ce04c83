// How well an epoch's batches mix the classes, measured the way the reader's acceptance test
// states it: each full batch's label counts are tested against the split's class proportions
// with Pearson's chi-square at level alpha (random batches fail alpha of the time), and each
// full batch must hold every class that makes up a tenth or more of the split.
#pragma once

#include <cstdint>
#include <vector>

namespace knotnet {

// Pearson's statistic of `counts` (one batch) against `proportions` (classes with proportion 0
// are left out, and must have count 0).
double chi_square_statistic(const std::vector<int64_t>& counts, const std::vector<double>& proportions);
// Upper tail P(X >= x) of a chi-square distribution with `dof` degrees of freedom.
double chi_square_upper_tail(double x, int dof);

struct MixingReport {
  int64_t batches = 0;               // full batches tested
  int64_t failing = 0;               // batches whose p-value is below alpha
  int64_t missing_major_class = 0;   // batches lacking a class of share >= presence_share
  double failing_share() const { return batches ? static_cast<double>(failing) / static_cast<double>(batches) : 0; }
};

// batch_counts: label counts of each batch; batch: the full batch size (smaller batches skip).
MixingReport mixing_report(const std::vector<std::vector<int64_t>>& batch_counts, const std::vector<double>& proportions,
                           int64_t batch, double alpha = 0.01, double presence_share = 0.10);

}  // namespace knotnet
