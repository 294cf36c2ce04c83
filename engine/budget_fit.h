// Fitting a model to the GPU memory budget before anything is allocated. In this order:
//   1. the options as given (cuDNN's algorithms under the requested workspace limit, or each
//      convolution's input plus output bytes if more: ModelOptions::cudnn_workspace_io_sized);
//   2. cuDNN's algorithms under the limit alone, then under smaller limits: 16 MiB, 4 MiB,
//      1 MiB, none;
//   3. every convolution on the hand-written implicit GEMM (no cuDNN workspace).
// The first that fits is the model to build. When none does, the check of the last attempt
// carries the report (budget.h): needed, budget, largest buffers, other processes, the largest
// batch that fits with every fallback applied. Totals come from plan-only models, which reserve
// each cuDNN convolution's whole limit: an upper bound on what the allocating model, which asks
// cuDNN, takes.
//
// The budget depends on the allocation policy: planned and growth use --gpu-mem (or the free
// memory); preallocate and fraction=F hold the plan inside their own block, so that block (plus
// the context, which lives outside it) is the budget.
#pragma once

#include <string>
#include <vector>

#include "engine/budget.h"
#include "engine/model.h"
#include "engine/spec.h"

namespace knotnet {

struct BudgetFit {
  bool fits = false;
  ModelOptions options;       // what to build the model with (the first attempt that fits)
  std::string choice;         // that attempt, in words
  bool fell_back = false;     // true when it is not the first attempt
  std::vector<std::string> tried;  // "<attempt>: <total>" for each attempt made
  BudgetCheck check;          // of the chosen attempt, or of the last one when none fits
  // The attempts after the chosen one that fit too, in order (those of an equal total
  // included): what to build instead when cuDNN, asked only by the allocating model, refuses the
  // chosen one (NoCudnnAlgorithm). Not checked here: that costs a batch search each, and is
  // rarely needed.
  struct Fallback {
    ModelOptions options;
    std::string choice;
  };
  std::vector<Fallback> next;
};

// The choice's words for every convolution on the implicit GEMM (BudgetFit::choice).
extern const char* const kImplicitChoice;

// The budget a policy gives the plan (see above); `user` is --gpu-mem.
MemoryBudget policy_budget(const AllocOptions& alloc, const MemoryBudget& user, const DeviceMemory& dev);

BudgetFit fit_to_budget(const ModelSpec& spec, const ModelOptions& requested, const Shape& input,
                        const MemoryBudget& budget, const DeviceMemory& dev);

// One rung checked on its own (a BudgetFit::Fallback, when it comes to be tried): its plan-only
// model at options.batch against the budget, the largest batch searched with the same options.
BudgetCheck check_rung(const ModelSpec& spec, const ModelOptions& options, const Shape& input,
                       const MemoryBudget& budget, const DeviceMemory& dev);

}  // namespace knotnet
