// The memory plan on its own: offsets never overlap for buffers live at the same time,
// alignment holds, totals are bounded by the live peak and by the no-reuse sum.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "engine/arena.h"
#include "engine/memory_plan.h"
#include "tests/support/plan_check.h"

namespace knotnet {
namespace {

using ::testing::HasSubstr;
using test::check_plan;

TEST(MemoryPlan, RandomLifetimesNeverOverlapWhileLive) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 200; ++trial) {
    MemoryPlan plan;
    int steps = 2 + static_cast<int>(rng() % 40);
    int count = 1 + static_cast<int>(rng() % 60);
    for (int b = 0; b < count; ++b) {
      int first = static_cast<int>(rng() % steps);
      int last = first + static_cast<int>(rng() % (steps - first));
      Lifetime life = rng() % 10 == 0 ? Lifetime::always() : Lifetime{first, last};
      int64_t n = 1 + static_cast<int64_t>(rng() % 5000);
      DType t = rng() % 3 == 0 ? DType::u8 : (rng() % 2 ? DType::f32 : DType::f64);
      size_t align = size_t(1) << (rng() % 10);
      plan.declare("b" + std::to_string(b), Role::scratch, Shape{n}, t, life, align);
    }
    plan.finalize();
    size_t peak = check_plan(plan);
    EXPECT_GE(plan.total_bytes(), peak);
    EXPECT_LE(plan.total_bytes(), plan.total_without_reuse());
  }
}

TEST(MemoryPlan, DisjointLifetimesShareMemory) {
  MemoryPlan plan;
  auto a = plan.declare("a", Role::activation, Shape{1000}, DType::f32, {0, 1});
  auto b = plan.declare("b", Role::activation, Shape{1000}, DType::f32, {2, 3});
  auto c = plan.declare("c", Role::activation, Shape{1000}, DType::f32, {1, 2});
  plan.finalize();
  check_plan(plan);
  EXPECT_EQ(plan.offset(a), plan.offset(b));  // a and b never live together
  EXPECT_NE(plan.offset(a), plan.offset(c));
  EXPECT_EQ(plan.total_bytes(), 8192u);  // two 4000-byte buffers, each rounded to 256-byte alignment
  EXPECT_EQ(plan.total_without_reuse(), 3 * 4096u);
}

TEST(MemoryPlan, AlignmentAndTotals) {
  MemoryPlan plan;
  plan.declare("odd", Role::scratch, Shape{3}, DType::u8, Lifetime::always(), 1);
  auto big = plan.declare("aligned", Role::scratch, Shape{10}, DType::f64, Lifetime::always(), 4096);
  plan.finalize();
  EXPECT_EQ(plan.offset(big) % 4096, 0u);
  EXPECT_EQ(plan.bytes_by_role(Role::scratch), 83u);
  EXPECT_EQ(plan.largest(1).front(), big);
  EXPECT_THAT(plan.table(), HasSubstr("total with lifetime reuse"));
  EXPECT_THAT(plan.table(), HasSubstr("aligned"));
}

TEST(MemoryPlan, Misuse) {
  MemoryPlan plan;
  EXPECT_THROW(plan.declare("bad", Role::scratch, Shape{4}, DType::f32, {3, 1}), Error);
  EXPECT_THROW(plan.declare("bad", Role::scratch, Shape{4}, DType::f32, {0, 1}, 3), Error);
  EXPECT_THROW(plan.total_bytes(), Error);
  plan.declare("x", Role::scratch, Shape{4}, DType::f32, {0, 1});
  plan.finalize();
  try {
    plan.declare("late", Role::scratch, Shape{4}, DType::f32, {0, 1});
    FAIL() << "declaring after finalize must throw";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'late'"));
  }
}

TEST(Arena, ViewsPointInsideAndArePoisoned) {
  MemoryPlan plan;
  auto a = plan.declare("a", Role::scratch, Shape{2, 3}, DType::f32, {0, 0});
  auto b = plan.declare("b", Role::scratch, Shape{5}, DType::f64, {0, 0});
  plan.finalize();
  long before = Arena::allocation_count();
  Arena arena(plan, host_memory_resource());
  EXPECT_EQ(Arena::allocation_count(), before + 1);
  Tensor ta = arena.view(plan, a), tb = arena.view(plan, b);
  EXPECT_EQ(ta.shape, Shape({2, 3}));
  EXPECT_TRUE(std::isnan(ta.as<float>()[0]));  // 0xFF bytes: NaN until a kernel writes
  EXPECT_TRUE(std::isnan(tb.as<double>()[4]));
  EXPECT_THROW(ta.as<double>(), Error);
}

}  // namespace
}  // namespace knotnet
