// The GPU memory budget on the CPU: flag parsing, the refusal report with a pretend card, and
// the largest-batch suggestion against a brute-force search.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/budget.h"
#include "engine/model.h"
#include "tests/support/test_support.h"

namespace knotnet {
namespace {

using ::testing::HasSubstr;

TEST(MemoryBudget, ParsesSizesAndFractions) {
  EXPECT_EQ(parse_memory_budget("6GiB").bytes(0), size_t(6) << 30);
  EXPECT_EQ(parse_memory_budget("512MiB").bytes(0), size_t(512) << 20);
  EXPECT_EQ(parse_memory_budget("1.5GB").bytes(0), size_t(1500000000));
  EXPECT_EQ(parse_memory_budget("800m").bytes(0), size_t(800) << 20);
  EXPECT_EQ(parse_memory_budget("4096").bytes(0), size_t(4096));
  MemoryBudget half = parse_memory_budget("0.5");
  EXPECT_TRUE(half.fraction);
  EXPECT_EQ(half.bytes(size_t(80) << 30), size_t(40) << 30);
  EXPECT_EQ(parse_memory_budget("1").bytes(1000), 1000u);
  for (const char* bad : {"", "abc", "-1GiB", "0", "0.0", "6 parsecs", "1.5", "nan", "6GiBs", "GiB"}) {
    try {
      parse_memory_budget(bad);
      ADD_FAILURE() << "'" << bad << "' must be rejected";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("--gpu-mem"));
    }
  }
}

size_t plan_bytes(int64_t batch) {
  ModelOptions opt;
  opt.batch = batch;
  opt.allocate = false;
  opt.device = Device::cuda;
  return Model(load_spec("seed"), opt).plan().total_bytes();
}

TEST(BudgetCheck, RefusesWithReportAndSuggestsLargestBatch) {
  ModelOptions opt;
  opt.batch = 128;
  opt.allocate = false;
  opt.device = Device::cuda;
  Model m(load_spec("seed"), opt);
  DeviceMemory card{.total = size_t(80) << 30, .free = size_t(70) << 30, .context = size_t(500) << 20};
  MemoryBudget budget = parse_memory_budget("1GiB");
  BudgetCheck c = check_budget(m.plan(), 128, budget, card, plan_bytes);
  ASSERT_FALSE(c.fits);
  EXPECT_EQ(c.needed, m.plan().total_bytes() + card.context);
  EXPECT_THAT(c.report, HasSubstr("at batch 128"));
  EXPECT_THAT(c.report, HasSubstr("--gpu-mem 1.00 GiB"));
  EXPECT_THAT(c.report, HasSubstr("held by other processes 9.51 GiB"));
  EXPECT_THAT(c.report, HasSubstr(m.plan().buffer(m.plan().largest(1)[0]).name));
  EXPECT_THAT(c.report, HasSubstr("nothing was allocated"));
  // The suggestion is the largest batch whose plan fits, checked by brute force around it.
  ASSERT_GT(c.largest_batch, 0);
  EXPECT_LE(plan_bytes(c.largest_batch) + card.context, size_t(1) << 30);
  EXPECT_GT(plan_bytes(c.largest_batch + 1) + card.context, size_t(1) << 30);
  EXPECT_THAT(c.report, HasSubstr("--batch " + std::to_string(c.largest_batch)));
}

TEST(BudgetCheck, FitsWhenLargeEnoughAndNeverAboveFree) {
  ModelOptions opt;
  opt.batch = 32;
  opt.allocate = false;
  Model m(load_spec("seed"), opt);
  DeviceMemory card{.total = size_t(80) << 30, .free = size_t(70) << 30};
  EXPECT_TRUE(check_budget(m.plan(), 32, parse_memory_budget("0.5"), card, plan_bytes).fits);
  // A budget above what is free is capped at the free memory.
  DeviceMemory busy{.total = size_t(80) << 30, .free = size_t(100) << 20};
  BudgetCheck c = check_budget(m.plan(), 32, parse_memory_budget("0.9"), busy, plan_bytes);
  EXPECT_FALSE(c.fits);
  EXPECT_EQ(c.budget, size_t(100) << 20);
  // Not even batch 1.
  DeviceMemory tiny_card{.total = size_t(8) << 20, .free = size_t(8) << 20};
  BudgetCheck none = check_budget(m.plan(), 32, MemoryBudget{}, tiny_card, plan_bytes);
  EXPECT_EQ(none.largest_batch, 0);
  EXPECT_THAT(none.report, HasSubstr("not even batch 1"));
}

TEST(PlanCommand, PrintsBudgetVerdict) {
  std::string out;
  std::string bin = (test::binary_dir() / "bin" / "train_knots").string();
  ASSERT_EQ(test::run_command(bin + " plan --model seed --batch 128 --device cuda --gpu-mem 1GiB --device-memory 80GiB", &out), 0)
      << out;
  EXPECT_THAT(out, HasSubstr("the largest batch that fits is"));
  out.clear();
  ASSERT_EQ(test::run_command(bin + " plan --model seed --batch 16 --gpu-mem 0.5 --device-memory 16GiB --json", &out), 0)
      << out;
  EXPECT_THAT(out, HasSubstr("\"fits\": true"));
  out.clear();
  EXPECT_NE(test::run_command(bin + " plan --gpu-mem 6parsecs --device-memory 16GiB", &out), 0);
  EXPECT_THAT(out, HasSubstr("--gpu-mem '6parsecs'"));
}

}  // namespace
}  // namespace knotnet
