#include "engine/budget_fit.h"

#include <memory>

#include "engine/format.h"

namespace knotnet {

const char* const kImplicitChoice = "the implicit GEMM for every convolution";

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
  auto limit_text = [](const ModelOptions& o) {
    const std::string limit = format_bytes(o.cudnn_workspace_limit);
    if (o.cudnn_workspace_io_sized)
      return "cuDNN with workspace up to each convolution's input + output + filter (at least " + limit + ")";
    return o.cudnn_workspace_limit == 0 ? std::string("cuDNN with no workspace") : "cuDNN with workspace up to " + limit;
  };
  attempts.push_back({requested.all_conv_implicit ? kImplicitChoice : limit_text(requested),
                      requested});
  if (!requested.all_conv_implicit) {
    // First the workspace sized by each convolution's input and output goes, then the limit
    // shrinks step by step.
    if (requested.cudnn_workspace_io_sized) {
      ModelOptions o = requested;
      o.cudnn_workspace_io_sized = false;
      attempts.push_back({limit_text(o), o});
    }
    for (size_t limit : {16 * kMiB, 4 * kMiB, 1 * kMiB, size_t(0)}) {
      if (limit >= requested.cudnn_workspace_limit) continue;
      ModelOptions o = requested;
      o.cudnn_workspace_io_sized = false;
      o.cudnn_workspace_limit = limit;
      attempts.push_back({limit_text(o), o});
    }
    ModelOptions o = requested;
    o.all_conv_implicit = true;
    attempts.push_back({kImplicitChoice, o});
  }
  // Plan every attempt (plan-only models are cheap); the choice and the report skip those that
  // change nothing. (They stay in the list of rungs to try should cuDNN refuse at build time:
  // the same total, but other algorithms.)
  std::vector<Attempt> kept;
  std::vector<size_t> kept_at;  // each kept attempt's index in `attempts`
  std::vector<size_t> totals;   // every attempt's plan total
  std::vector<std::unique_ptr<Model>> plans;
  for (size_t a = 0; a < attempts.size(); ++a) {
    ModelOptions o = attempts[a].options;
    o.allocate = false;
    auto planned = std::make_unique<Model>(spec, o, input);
    totals.push_back(planned->plan().total_bytes());
    if (!kept_at.empty() && totals.back() == totals[kept_at.back()]) continue;
    kept.push_back(attempts[a]);
    kept_at.push_back(a);
    plans.push_back(std::move(planned));
  }
  auto total = [&](size_t i) { return plans[i]->plan().total_bytes(); };
  // The largest batch is searched with the leanest attempt: the most any batch can get. (Not
  // always the last: the implicit GEMM's split-K partials can need more than cuDNN without
  // workspace; it stays last because it is what runs where cuDNN has no algorithm at all.)
  size_t leanest = 0;
  for (size_t i = 1; i < kept.size(); ++i)
    if (total(i) < total(leanest)) leanest = i;
  auto plan_for_batch = [&](int64_t b) {
    ModelOptions o = kept[leanest].options;
    o.batch = b;
    return plan_total(spec, o, input);
  };
  BudgetFit fit;
  for (size_t i = 0; i < kept.size(); ++i) fit.tried.push_back(kept[i].what + ": " + format_bytes(total(i)));
  // The first attempt, in order, that fits; the leanest (for its report) when none does.
  const size_t limit = check_budget_limit(budget, dev);
  size_t chosen = leanest;
  for (size_t i = 0; i < kept.size(); ++i)
    if (total(i) + dev.context <= limit) {
      chosen = i;
      break;
    }
  fit.check = check_budget(plans[chosen]->plan(), requested.batch, budget, dev, plan_for_batch);
  fit.options = kept[chosen].options;
  fit.choice = kept[chosen].what;
  fit.fell_back = chosen > 0;
  fit.fits = fit.check.fits;
  if (fit.fits) {
    for (size_t a = kept_at[chosen] + 1; a < attempts.size(); ++a)
      if (totals[a] + dev.context <= limit) fit.next.push_back({attempts[a].options, attempts[a].what});
    return fit;
  }
  // Nothing fits: the leanest attempt's report, and what was tried.
  std::string tried;
  for (const auto& t : fit.tried) tried += "\n    " + t;
  fit.check.report += "\n  tried, in order (plan totals):" + tried;
  return fit;
}

BudgetCheck check_rung(const ModelSpec& spec, const ModelOptions& options, const Shape& input,
                       const MemoryBudget& budget, const DeviceMemory& dev) {
  ModelOptions planning = options;
  planning.allocate = false;
  const Model planned(spec, planning, input);
  return check_budget(planned.plan(), options.batch, budget, dev, [&](int64_t b) {
    ModelOptions o = planning;
    o.batch = b;
    return plan_total(spec, o, input);
  });
}

}  // namespace knotnet
