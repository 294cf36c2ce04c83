// Invariant check for a finalized MemoryPlan, shared by the plan and model tests.
#pragma once

#include <cstddef>

#include "engine/memory_plan.h"

namespace knotnet::test {

// Adds a GoogleTest failure for every pair of buffers that are live at the same step and share
// bytes, and for every misaligned or out-of-range buffer. Returns the peak of bytes live at one
// step (a lower bound for any correct plan's total).
size_t check_plan(const MemoryPlan& plan);

}  // namespace knotnet::test
