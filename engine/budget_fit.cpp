#include "engine/budget_fit.h"

#include <algorithm>

#include "engine/format.h"

namespace knotnet {

namespace {
constexpr size_t kMiB = size_t(1) << 20;

size_t plan_total(const ModelSpec& spec, ModelOptions o, const Shape& input) {
  o.allocate = false;
  return Model(spec, o, input).plan().total_bytes();
}
}  // namespace

MemoryBudget policy_budget(const AllocOptions& alloc, const MemoryBudget& user, const DeviceMemory& dev) {
  MemoryBudget b;
  switch (alloc.policy) {
    case AllocPolicy::planned:
    case AllocPolicy::growth:
      return user;
    case AllocPolicy::preallocate: {
      const size_t reserve = tensorflow_system_reserve(dev.free, dev.cc_major);
      b.set = true;
      b.value = double((dev.free > reserve ? (dev.free - reserve) / kMiB * kMiB : 0) + dev.context);
      return b;
    }
    case AllocPolicy::fraction:
      b.set = true;
      b.value = double(static_cast<size_t>(alloc.fraction * double(dev.total)) / kMiB * kMiB + dev.context);
      return b;
  }
  return user;
}

BudgetFit fit_to_budget(const ModelSpec& spec, const ModelOptions& requested, const Shape& input,
                        const MemoryBudget& budget, const DeviceMemory& dev) {
  struct Attempt {
    std::string what;
    ModelOptions options;
  };
  std::vector<Attempt> attempts;
  auto limit_text = [](size_t limit) {
    return limit == 0 ? std::string("cuDNN with no workspace") : "cuDNN with workspace up to " + format_bytes(limit);
  };
  attempts.push_back({requested.all_conv_implicit ? "implicit GEMM for every convolution"
                                                  : limit_text(requested.cudnn_workspace_limit),
                      requested});
  if (!requested.all_conv_implicit) {
    for (size_t limit : {16 * kMiB, 4 * kMiB, 1 * kMiB, size_t(0)}) {
      if (limit >= requested.cudnn_workspace_limit) continue;
      ModelOptions o = requested;
      o.cudnn_workspace_limit = limit;
      attempts.push_back({limit_text(limit), o});
    }
    ModelOptions o = requested;
    o.all_conv_implicit = true;
    attempts.push_back({"implicit GEMM for every convolution", o});
  }
  // Plan every attempt (plan-only models are cheap); drop those that change nothing.
  std::vector<size_t> totals;
  std::vector<Attempt> kept;
  for (size_t i = 0; i < attempts.size(); ++i) {
    const size_t total = plan_total(spec, attempts[i].options, input);
    if (!kept.empty() && total == totals.back()) continue;
    kept.push_back(attempts[i]);
    totals.push_back(total);
  }
  // The largest batch is searched with the leanest attempt: the most any batch can get. (Not
  // always the last: the implicit GEMM's split-K partials can need more than cuDNN without
  // workspace; it stays last because it is what runs where cuDNN has no algorithm at all.)
  const size_t leanest = static_cast<size_t>(std::min_element(totals.begin(), totals.end()) - totals.begin());
  auto plan_for_batch = [&](int64_t b) {
    ModelOptions o = kept[leanest].options;
    o.batch = b;
    return plan_total(spec, o, input);
  };
  BudgetFit fit;
  for (size_t i = 0; i < kept.size(); ++i) fit.tried.push_back(kept[i].what + ": " + format_bytes(totals[i]));
  for (size_t i = 0; i < kept.size(); ++i) {
    const bool fits = totals[i] + dev.context <= check_budget_limit(budget, dev);
    if (!fits && i != leanest) continue;
    ModelOptions o = kept[i].options;
    o.allocate = false;
    Model planned(spec, o, input);
    fit.check = check_budget(planned.plan(), requested.batch, budget, dev, plan_for_batch);
    fit.options = kept[i].options;
    fit.choice = kept[i].what;
    fit.fell_back = i > 0;
    if (fit.check.fits) {
      fit.fits = true;
      return fit;
    }
  }
  // Nothing fits: the leanest attempt's report, and what was tried.
  std::string tried;
  for (const auto& t : fit.tried) tried += "\n    " + t;
  fit.check.report += "\n  tried, in order (plan totals):" + tried;
  return fit;
}

}  // namespace knotnet
