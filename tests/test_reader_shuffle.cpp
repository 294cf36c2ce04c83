// The epoch planner: every row of a split once per epoch in a new, reproducible order, and
// batches that mix the classes of a class-sorted file as well as random batches do (the
// acceptance criterion: at most 2% of batches of 128 fail a chi-square test at the 1% level, and
// none lacks a class of a tenth or more of the split). Negative controls show the criterion
// catches in-order reading and a window too small for the file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "engine/error.h"
#include "engine/rng.h"
#include "io/shuffle_plan.h"
#include "io/shuffle_quality.h"
#include "io/shuffle_random.h"
#include "io/split.h"

using namespace knotnet;

namespace {

std::vector<int32_t> sorted_labels(int64_t n, const std::vector<double>& shares) {
  std::vector<int32_t> labels;
  for (size_t c = 0; c < shares.size(); ++c)
    for (int64_t i = 0; i < static_cast<int64_t>(std::llround(shares[c] * static_cast<double>(n))); ++i)
      labels.push_back(static_cast<int32_t>(c));
  labels.resize(static_cast<size_t>(n), static_cast<int32_t>(shares.size() - 1));
  return labels;
}

std::vector<double> proportions(const std::vector<int32_t>& labels, const std::vector<int64_t>& rows, int classes) {
  auto counts = class_counts(labels, rows, classes);
  std::vector<double> p(counts.size());
  for (size_t c = 0; c < p.size(); ++c) p[c] = static_cast<double>(counts[c]) / static_cast<double>(rows.size());
  return p;
}

std::vector<std::vector<int64_t>> batch_counts(const std::vector<int64_t>& order, int64_t batch,
                                               const std::vector<int32_t>& labels, int classes) {
  std::vector<std::vector<int64_t>> counts((order.size() + static_cast<size_t>(batch) - 1) / static_cast<size_t>(batch),
                                           std::vector<int64_t>(static_cast<size_t>(classes), 0));
  for (size_t q = 0; q < order.size(); ++q)
    ++counts[q / static_cast<size_t>(batch)][static_cast<size_t>(labels[static_cast<size_t>(order[q])])];
  return counts;
}

// Mixing over `epochs` epochs of the train split of `labels`.
MixingReport mixing(const std::vector<int32_t>& labels, int classes, int64_t block_rows, PlanOptions o, int epochs) {
  Split split = stratified_split(labels, classes, block_rows, SplitFractions{}, 5);
  auto p = proportions(labels, split.train(), classes);
  MixingReport total;
  for (int e = 0; e < epochs; ++e) {
    EpochPlan plan = plan_epoch(split.train(), labels, classes, block_rows, o, e);
    MixingReport r = mixing_report(batch_counts(plan.order, o.batch, labels, classes), p, o.batch);
    total.batches += r.batches;
    total.failing += r.failing;
    total.missing_major_class += r.missing_major_class;
  }
  return total;
}

TEST(ReaderShuffle, ChiSquareTail) {
  // Critical values at the 1% level for 1, 2, 3 and 5 degrees of freedom.
  EXPECT_NEAR(chi_square_upper_tail(6.634897, 1), 0.01, 1e-6);
  EXPECT_NEAR(chi_square_upper_tail(9.210340, 2), 0.01, 1e-6);
  EXPECT_NEAR(chi_square_upper_tail(11.344867, 3), 0.01, 1e-6);
  EXPECT_NEAR(chi_square_upper_tail(15.086272, 5), 0.01, 1e-6);
  EXPECT_NEAR(chi_square_upper_tail(2.0, 2), std::exp(-1.0), 1e-12);  // exact for 2 dof
  EXPECT_NEAR(chi_square_upper_tail(0.5, 4), 0.973500, 1e-6);
  EXPECT_DOUBLE_EQ(chi_square_statistic({40, 40, 40}, {1.0 / 3, 1.0 / 3, 1.0 / 3}), 0.0);
  EXPECT_NEAR(chi_square_statistic({50, 30, 40}, {1.0 / 3, 1.0 / 3, 1.0 / 3}), (100.0 + 100.0 + 0.0) / 40.0, 1e-12);
}

TEST(ReaderShuffle, RandomBatchesFailAboutOnePercent) {
  // The yardstick itself: uniformly shuffled epochs fail the test about 1% of the time.
  auto labels = sorted_labels(300000, {1.0 / 3, 1.0 / 3, 1.0 / 3});
  std::vector<int64_t> rows(labels.size());
  std::iota(rows.begin(), rows.end(), 0);
  RandomStream rng(99, 1);
  rng.shuffle(rows);
  auto r = mixing_report(batch_counts(rows, 128, labels, 3), {1.0 / 3, 1.0 / 3, 1.0 / 3}, 128);
  EXPECT_EQ(r.batches, 2343);
  EXPECT_GT(r.failing_share(), 0.004);
  EXPECT_LT(r.failing_share(), 0.018);
}

TEST(ReaderShuffle, EveryRowOnceInANewReproducibleOrder) {
  std::vector<int32_t> labels(5000);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int32_t>(random_bits(3, 4, i) % 3);
  Split split = stratified_split(labels, 3, 40, SplitFractions{}, 9);
  const auto& rows = split.train();
  PlanOptions o;
  o.batch = 32;
  o.window_samples = 500;
  EpochPlan e0 = plan_epoch(rows, labels, 3, 40, o, 0);
  EpochPlan e0_again = plan_epoch(rows, labels, 3, 40, o, 0);
  EpochPlan e1 = plan_epoch(rows, labels, 3, 40, o, 1);
  EXPECT_EQ(e0.order, e0_again.order);
  EXPECT_NE(e0.order, e1.order);
  o.seed = 43;
  EXPECT_NE(plan_epoch(rows, labels, 3, 40, o, 0).order, e0.order);
  for (const EpochPlan* plan : {&e0, &e1}) {
    auto sorted = plan->order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, rows);  // a permutation of the split
    EXPECT_EQ(plan->batches(), (static_cast<int64_t>(rows.size()) + 31) / 32);
    // The read list agrees with the order, reads each block once, and asks for buffers early enough.
    std::vector<int64_t> blocks = plan->block_ids;
    std::sort(blocks.begin(), blocks.end());
    EXPECT_EQ(std::unique(blocks.begin(), blocks.end()), blocks.end());
    int64_t entries = 0;
    for (int64_t i = 0; i < plan->blocks(); ++i)
      for (int64_t j = plan->block_begin[static_cast<size_t>(i)]; j < plan->block_begin[static_cast<size_t>(i) + 1]; ++j) {
        ++entries;
        const int64_t pos = plan->entry_pos[static_cast<size_t>(j)];
        EXPECT_EQ(plan->order[static_cast<size_t>(pos)],
                  plan->block_ids[static_cast<size_t>(i)] * 40 + plan->entry_row[static_cast<size_t>(j)]);
        EXPECT_GE(plan->block_need[static_cast<size_t>(i)], pos / 32);
      }
    EXPECT_EQ(entries, static_cast<int64_t>(rows.size()));
    EXPECT_LE(plan->max_window_batches(), window_batch_span(500, 40, 32));
  }
}

TEST(ReaderShuffle, InOrderModeKeepsFileOrder) {
  std::vector<int32_t> labels(1000, 0);
  std::vector<int64_t> rows;
  for (int64_t r = 0; r < 1000; r += 3) rows.push_back(r);
  PlanOptions o;
  o.mode = ShuffleMode::none;
  o.batch = 50;
  EpochPlan plan = plan_epoch(rows, labels, 1, 64, o, 4);
  EXPECT_EQ(plan.order, rows);
}

TEST(ReaderShuffle, DropLastDropsOnlyThePartialBatch) {
  std::vector<int32_t> labels(1000, 1);
  std::vector<int64_t> rows(1000);
  std::iota(rows.begin(), rows.end(), 0);
  PlanOptions o;
  o.batch = 128;
  o.drop_last = true;
  EpochPlan plan = plan_epoch(rows, labels, 2, 64, o, 0);
  EXPECT_EQ(plan.samples, 896);
  EXPECT_EQ(plan.batches(), 7);
  EXPECT_EQ(plan.batch_size(6), 128);
  int64_t entries = plan.block_begin.back();
  EXPECT_EQ(entries, 896);
  std::vector<int64_t> seen = plan.order;
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());
}

TEST(ReaderShuffle, WindowIsSizedFromTheFile) {
  auto sorted = sorted_labels(300000, {1.0 / 3, 1.0 / 3, 1.0 / 3});
  std::vector<int32_t> mixed(300000);
  for (size_t i = 0; i < mixed.size(); ++i) mixed[i] = static_cast<int32_t>(random_bits(8, 8, i) % 3);
  std::vector<int64_t> rows(300000);
  std::iota(rows.begin(), rows.end(), 0);
  // Blocks of one class need many blocks per window; blocks already mixed need only the floor.
  EXPECT_GT(mixing_window_samples(rows, sorted, 3, 64, 128), 30 * 64);
  EXPECT_EQ(mixing_window_samples(rows, mixed, 3, 64, 128), 8 * 128);
  // Bigger blocks, bigger windows.
  EXPECT_GT(mixing_window_samples(rows, sorted, 3, 256, 128), 3 * mixing_window_samples(rows, sorted, 3, 64, 128));
}

TEST(ReaderShuffle, SortedFileBatchesMixLikeRandomOnes) {
  PlanOptions o;
  o.batch = 128;
  struct Case {
    std::vector<double> shares;
    int64_t block_rows;
  };
  for (const Case& c : {Case{{1.0 / 3, 1.0 / 3, 1.0 / 3}, 64}, Case{{0.5, 0.3, 0.2}, 125}, Case{{0.1, 0.6, 0.3}, 256}}) {
    auto labels = sorted_labels(300000, c.shares);
    MixingReport r = mixing(labels, 3, c.block_rows, o, 2);
    std::printf("sorted labels, blocks of %lld: %lld of %lld batches fail the 1%% chi-square test\n",
                static_cast<long long>(c.block_rows), static_cast<long long>(r.failing), static_cast<long long>(r.batches));
    EXPECT_GT(r.batches, 3000);
    EXPECT_LE(r.failing_share(), 0.02) << "blocks of " << c.block_rows << ": " << r.failing << " of " << r.batches;
    EXPECT_EQ(r.missing_major_class, 0);
  }
}

TEST(ReaderShuffle, CriterionCatchesInOrderReadingAndSmallWindows) {
  auto labels = sorted_labels(300000, {1.0 / 3, 1.0 / 3, 1.0 / 3});
  PlanOptions o;
  o.batch = 128;
  o.mode = ShuffleMode::none;
  MixingReport in_order = mixing(labels, 3, 64, o, 1);
  EXPECT_GT(in_order.failing_share(), 0.95);
  EXPECT_GT(in_order.missing_major_class, in_order.batches / 2);
  o.mode = ShuffleMode::window;
  o.window_samples = 512;  // 8 blocks: too few to hold the classes in proportion
  MixingReport small = mixing(labels, 3, 64, o, 1);
  EXPECT_GT(small.failing_share(), 0.05);
}

}  // namespace
