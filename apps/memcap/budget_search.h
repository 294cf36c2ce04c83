// The smallest --gpu-mem at which training runs, found with few runs: start at a guess (the
// memory a budget-free run was measured to hold), try it and one step below; if they do not
// bracket the answer, widen away from the guess by doubling steps; then bisect to one step.
// Budgets are whole multiples of `step` MiB. Every try is one training process, so the number
// of tries is bounded (max_runs) and reported, and a search cut short says so. Header-only so
// that its test can drive it with a pretend training run.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace knotnet::memcap {

struct BudgetSearch {
  std::optional<int64_t> smallest_ok_mib;   // the smallest budget tried that ran
  std::optional<int64_t> largest_fail_mib;  // the largest budget tried that did not
  // The two are one step apart, or the smallest possible budget ran.
  bool converged = false;
  // `runs` declined to run a try (e.g. a deadline), which ended the search.
  bool stopped = false;
  std::vector<std::pair<int64_t, bool>> tries;  // (budget MiB, ran) in the order tried
  int runs() const { return static_cast<int>(tries.size()); }
};

// `runs(mib)` trains under a budget of `mib` MiB and says whether it ran (std::optional<bool>;
// nullopt: it did not try, which ends the search). It is assumed monotone (more memory never
// hurts): every try lies strictly between the largest failure and the smallest success so far,
// so a flaky run cannot contradict an earlier one, only move the answer. Budgets stay within
// [step, max_mib].
template <typename RunsAt>
BudgetSearch find_smallest_budget(int64_t guess_mib, int64_t step, int64_t max_mib, int max_runs, RunsAt&& runs) {
  BudgetSearch s;
  auto round_up = [&](int64_t v) { return std::clamp((v + step - 1) / step * step, step, max_mib / step * step); };
  auto attempt = [&](int64_t mib) {
    const std::optional<bool> ran = runs(mib);
    if (!ran) {
      s.stopped = true;
      return false;
    }
    const bool ok = *ran;
    s.tries.emplace_back(mib, ok);
    if (ok)
      s.smallest_ok_mib = s.smallest_ok_mib ? std::min(*s.smallest_ok_mib, mib) : mib;
    else
      s.largest_fail_mib = s.largest_fail_mib ? std::max(*s.largest_fail_mib, mib) : mib;
    return ok;
  };
  auto done = [&] {
    if (s.smallest_ok_mib &&
        (*s.smallest_ok_mib == step || (s.largest_fail_mib && *s.smallest_ok_mib - *s.largest_fail_mib <= step)))
      return s.converged = true;
    return false;
  };
  const int64_t top = max_mib / step * step;
  if (top < step || max_runs <= 0) return s;

  // 1. The guess and the step below it.
  attempt(round_up(guess_mib));
  // 2. Widen until bracketed: down from the smallest success, up from the largest failure.
  for (int64_t gap = step; !done() && !s.stopped && s.runs() < max_runs; gap *= 2) {
    if (s.smallest_ok_mib && !s.largest_fail_mib) {
      attempt(std::max(step, *s.smallest_ok_mib - gap));
    } else if (!s.smallest_ok_mib) {
      if (*s.largest_fail_mib >= top) break;  // even the whole card did not do
      attempt(std::min(top, *s.largest_fail_mib + gap));
    } else {
      break;  // bracketed
    }
  }
  // 3. Bisect the bracket to one step.
  while (!done() && !s.stopped && s.runs() < max_runs && s.smallest_ok_mib && s.largest_fail_mib) {
    const int64_t lo = *s.largest_fail_mib, hi = *s.smallest_ok_mib;
    attempt(lo + (hi - lo) / step / 2 * step);
  }
  return s;
}

}  // namespace knotnet::memcap
