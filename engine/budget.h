// The GPU memory budget a user sets (--gpu-mem), and the check made before the first step:
// everything knotnet will hold (the memory plan plus the CUDA context and library handles)
// against the budget. When it does not fit, the report says what is needed, the budget, the
// five largest buffers, what other processes hold, and the largest batch size that would fit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "engine/device_memory.h"
#include "engine/memory_plan.h"

namespace knotnet {

struct MemoryBudget {
  bool set = false;        // false: no budget (use what the plan needs)
  bool fraction = false;   // true: `value` is a fraction of the card's total memory
  double value = 0;        // bytes, or the fraction
  // The budget in bytes for a card of `device_total` bytes.
  size_t bytes(size_t device_total) const;
  std::string str() const;  // as the user wrote it, normalised ("6.00 GiB", "0.5 of the card")
};

// "6GiB", "512MiB", "1.5GB", "800M", "1073741824" (bytes), or a fraction in (0, 1] such as
// "0.5". Throws naming the value for anything else.
MemoryBudget parse_memory_budget(const std::string& text);

struct BudgetCheck {
  bool fits = true;
  size_t needed = 0;  // plan total + context
  size_t budget = 0;  // bytes (the card's free memory when no budget is set)
  int64_t largest_batch = 0;  // largest batch that fits (0: not even batch 1)
  std::string report;  // the message for the user when it does not fit
};

// The most a plan plus context may take under `budget` on `dev`: the budget, never more than
// what is free (plus the context, already taken); what is free when no budget is set.
size_t check_budget_limit(const MemoryBudget& budget, const DeviceMemory& dev);

// plan_for_batch(b) returns the plan's total bytes for batch size b (monotone in b);
// `plan` is the plan at the requested batch.
BudgetCheck check_budget(const MemoryPlan& plan, int64_t batch, const MemoryBudget& budget, const DeviceMemory& dev,
                         const std::function<size_t(int64_t)>& plan_for_batch);

}  // namespace knotnet
