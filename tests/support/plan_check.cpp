#include "tests/support/plan_check.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace knotnet::test {

size_t check_plan(const MemoryPlan& plan) {
  const int n = static_cast<int>(plan.size());
  int last_step = 0;
  for (int i = 0; i < n; ++i) last_step = std::max(last_step, std::min(plan.buffer(i).life.last, 1000));
  for (int i = 0; i < n; ++i) {
    const auto& a = plan.buffer(i);
    size_t oa = plan.offset(i);
    EXPECT_EQ(oa % a.align, 0u) << a.name;
    EXPECT_LE(oa + a.bytes, plan.total_bytes()) << a.name;
    for (int j = i + 1; j < n; ++j) {
      const auto& b = plan.buffer(j);
      if (!a.life.overlaps(b.life) || a.bytes == 0 || b.bytes == 0) continue;
      size_t ob = plan.offset(j);
      EXPECT_TRUE(oa + a.bytes <= ob || ob + b.bytes <= oa)
          << a.name << " [" << oa << "," << oa + a.bytes << ") and " << b.name << " [" << ob << "," << ob + b.bytes
          << ") are live together (" << a.life.str() << " / " << b.life.str() << ") and overlap";
    }
  }
  size_t peak = 0;
  for (int s = 0; s <= last_step; ++s) {
    size_t live = 0;
    for (int i = 0; i < n; ++i)
      if (plan.buffer(i).life.overlaps(Lifetime::at(s))) live += plan.buffer(i).bytes;
    peak = std::max(peak, live);
  }
  return peak;
}

}  // namespace knotnet::test
