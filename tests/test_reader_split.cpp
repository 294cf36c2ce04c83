// The stratified split: exact per-class proportions, disjoint and complete, reproducible from
// the seed, and aligned to the file's blocks so that reading a small split reads little.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "engine/error.h"
#include "engine/rng.h"
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

std::vector<int32_t> random_labels(int64_t n, int classes, uint64_t seed) {
  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    labels[static_cast<size_t>(i)] = static_cast<int32_t>(random_bits(seed, 3, static_cast<uint64_t>(i)) % classes);
  return labels;
}

int64_t blocks_touched(const std::vector<int64_t>& rows, int64_t block_rows) {
  std::set<int64_t> b;
  for (int64_t r : rows) b.insert(r / block_rows);
  return static_cast<int64_t>(b.size());
}

void expect_valid_split(const std::vector<int32_t>& labels, int classes, const Split& s, const SplitFractions& f) {
  std::vector<int> seen(labels.size(), 0);
  for (const auto& part : s.parts) {
    EXPECT_TRUE(std::is_sorted(part.begin(), part.end()));
    for (int64_t r : part) ++seen[static_cast<size_t>(r)];
  }
  for (size_t r = 0; r < seen.size(); ++r) ASSERT_EQ(seen[r], 1) << "row " << r << " is in " << seen[r] << " splits";
  auto total = class_counts(labels, [&] {
    std::vector<int64_t> all(labels.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
    return all;
  }(), classes);
  const double share[3] = {f.train, f.validation, f.test};
  for (int p = 0; p < 3; ++p) {
    auto counts = class_counts(labels, s.parts[static_cast<size_t>(p)], classes);
    for (int c = 0; c < classes; ++c)
      EXPECT_LE(std::fabs(static_cast<double>(counts[static_cast<size_t>(c)]) -
                          share[p] * static_cast<double>(total[static_cast<size_t>(c)])),
                1.0)
          << "part " << p << " class " << c;
  }
}

TEST(ReaderSplit, SortedFileExactProportionsAndFewBlocks) {
  auto labels = sorted_labels(30000, {0.5, 0.3, 0.2});
  SplitFractions f;
  Split s = stratified_split(labels, 3, 64, f, 11);
  expect_valid_split(labels, 3, s, f);
  // Validation is 15% of the file: it should read about 15% of the blocks, not all of them.
  const int64_t blocks = (30000 + 63) / 64;
  EXPECT_LE(blocks_touched(s.validation(), 64), (static_cast<int64_t>(s.validation().size()) + 63) / 64 + 6);
  EXPECT_LT(blocks_touched(s.validation(), 64), blocks / 5);
}

TEST(ReaderSplit, RandomFileExactProportionsAndFewBlocks) {
  auto labels = random_labels(40000, 3, 5);
  SplitFractions f{0.8, 0.1, 0.1};
  Split s = stratified_split(labels, 3, 100, f, 12);
  expect_valid_split(labels, 3, s, f);
  EXPECT_LE(blocks_touched(s.test(), 100), 40000 / 100 / 10 + 40);
}

TEST(ReaderSplit, RowLevelSplitWhenBlocksAreSingleRows) {
  auto labels = random_labels(5003, 4, 6);
  SplitFractions f;
  Split s = stratified_split(labels, 4, 1, f, 13);
  expect_valid_split(labels, 4, s, f);
}

TEST(ReaderSplit, SameSeedSameSplitOtherSeedOtherSplit) {
  auto labels = sorted_labels(10000, {0.34, 0.33, 0.33});
  Split a = stratified_split(labels, 3, 64, SplitFractions{}, 1);
  Split b = stratified_split(labels, 3, 64, SplitFractions{}, 1);
  Split c = stratified_split(labels, 3, 64, SplitFractions{}, 2);
  EXPECT_EQ(a.parts, b.parts);
  EXPECT_NE(a.validation(), c.validation());
}

TEST(ReaderSplit, EmptyPartsAndTinyClasses) {
  std::vector<int32_t> labels(1000, 0);
  labels[10] = 1;  // a class of one image goes to train
  Split s = stratified_split(labels, 2, 64, SplitFractions{0.9, 0.1, 0.0}, 3);
  expect_valid_split(labels, 2, s, SplitFractions{0.9, 0.1, 0.0});
  EXPECT_TRUE(s.test().empty());
  EXPECT_TRUE(std::binary_search(s.train().begin(), s.train().end(), 10));
}

TEST(ReaderSplit, ParsesFractions) {
  auto f = parse_split_fractions("70,15,15");
  EXPECT_DOUBLE_EQ(f.train, 0.70);
  EXPECT_DOUBLE_EQ(f.validation, 0.15);
  f = parse_split_fractions("0.8,0.2");
  EXPECT_DOUBLE_EQ(f.train, 0.8);
  EXPECT_DOUBLE_EQ(f.test, 0.0);
  for (const char* bad : {"70", "70,-5,35", "0,50,50", "a,b,c", "1,2,3,4"}) {
    try {
      parse_split_fractions(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(parse_split_part("val"), SplitPart::validation);
  EXPECT_THROW(parse_split_part("training"), Error);
}

}  // namespace
