// Softmax + categorical cross-entropy: a hand-computed case, class indices and one-hot targets
// giving the same loss, gradient and count, soft targets, stability for logits ~1e4 and for
// probabilities that underflow, finite differences of the loss wrt the logits in double, the
// arg-max count with ties, and clear errors for bad labels.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "engine/loss.h"
#include "tests/support/alloc_count.h"
#include "tests/support/gradcheck.h"

namespace knotnet::test {
namespace {

using ::testing::HasSubstr;

template <typename T>
Tensor view(std::vector<T>& v, Shape s) {
  return Tensor(v.data(), s, dtype_of<T>());
}

TEST(SoftmaxCrossEntropy, HandComputedCase) {
  SoftmaxCrossEntropy loss(3);
  std::vector<double> z = {1, 2, 3, 1, 1, 1}, p(6), d(6);
  std::vector<int32_t> labels = {2, 0};
  loss.forward(view(z, {2, 3}), view(p, {2, 3}));
  const double e = std::exp(1.0), s = 1 + e + e * e;
  const std::vector<double> want = {1 / s, e / s, e * e / s, 1.0 / 3, 1.0 / 3, 1.0 / 3};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(p[i], want[i], 1e-15);
  LossResult r = loss.loss(view(p, {2, 3}), view(labels, {2}), view(d, {2, 3}));
  EXPECT_NEAR(r.loss, (-std::log(want[2]) - std::log(1.0 / 3)) / 2, 1e-15);
  EXPECT_EQ(r.count, 2);
  EXPECT_EQ(r.correct, 2);  // row 2 is a three-way tie: the first maximum, class 0, wins
  EXPECT_DOUBLE_EQ(r.accuracy(), 1.0);
  const std::vector<double> grad = {want[0] / 2, want[1] / 2, (want[2] - 1) / 2, (1.0 / 3 - 1) / 2, 1.0 / 6, 1.0 / 6};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(d[i], grad[i], 1e-15) << i;
}

TEST(SoftmaxCrossEntropy, IndicesAndOneHotAgree) {
  const int64_t n = 7, k = 5;
  SoftmaxCrossEntropy loss(k);
  std::vector<float> z = random_floats(n * k, 3, -4, 4), p(n * k), d1(n * k), d2(n * k), onehot(n * k, 0.0f);
  std::vector<int32_t> labels = {0, 4, 2, 2, 1, 3, 0};
  for (int64_t i = 0; i < n; ++i) onehot[i * k + labels[i]] = 1.0f;
  loss.forward(view(z, {n, k}), view(p, {n, k}));
  LossResult a = loss.loss(view(p, {n, k}), view(labels, {n}), view(d1, {n, k}));
  LossResult b = loss.loss(view(p, {n, k}), view(onehot, {n, k}), view(d2, {n, k}));
  EXPECT_DOUBLE_EQ(a.loss, b.loss);
  EXPECT_EQ(a.correct, b.correct);
  EXPECT_EQ(d1, d2);
  // Without a gradient buffer the loss and count are the same.
  LossResult c = loss.loss(view(p, {n, k}), view(labels, {n}), Tensor());
  EXPECT_DOUBLE_EQ(c.loss, a.loss);
  EXPECT_EQ(c.correct, a.correct);
}

TEST(SoftmaxCrossEntropy, SoftTargets) {
  SoftmaxCrossEntropy loss(3);
  std::vector<double> z = {0.5, -1, 2}, p(3), t = {0.2, 0.3, 0.5}, d(3);
  loss.forward(view(z, {1, 3}), view(p, {1, 3}));
  LossResult r = loss.loss(view(p, {1, 3}), view(t, {1, 3}), view(d, {1, 3}));
  double want = 0;
  for (int j = 0; j < 3; ++j) want -= t[j] * std::log(p[j]);
  EXPECT_NEAR(r.loss, want, 1e-14);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(d[j], p[j] - t[j], 1e-15);
  EXPECT_EQ(r.correct, 1);  // arg-max of p (class 2) is arg-max of t (class 2)
}

TEST(SoftmaxCrossEntropy, StableForLogitsAroundTenThousand) {
  const int64_t n = 4, k = 3;
  SoftmaxCrossEntropy loss(k);
  std::vector<float> small = random_floats(n * k, 5, -2, 2), big(n * k), p_small(n * k), p_big(n * k);
  for (size_t i = 0; i < big.size(); ++i) big[i] = small[i] + 1e4f;
  loss.forward(view(small, {n, k}), view(p_small, {n, k}));
  loss.forward(view(big, {n, k}), view(p_big, {n, k}));
  ASSERT_TRUE(all_finite(p_big));
  // A shift by 1e4 changes nothing but float rounding of the logits themselves (ulp(1e4) ~ 1e-3).
  EXPECT_LT(max_scaled_diff(p_big, p_small), 5e-3);
  std::vector<int32_t> labels = {0, 1, 2, 1};
  std::vector<float> d(n * k);
  LossResult r = loss.loss(view(p_big, {n, k}), view(labels, {n}), view(d, {n, k}));
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_TRUE(all_finite(d));

  // Logits 1e4 apart: the other classes underflow to probability 0, and the log is clamped.
  std::vector<float> far = {1e4f, 0, -1e4f}, pf(3), df(3);
  loss.forward(view(far, {1, 3}), view(pf, {1, 3}));
  EXPECT_EQ(pf, (std::vector<float>{1, 0, 0}));
  std::vector<int32_t> wrong = {2};
  LossResult rf = loss.loss(view(pf, {1, 3}), view(wrong, {1}), view(df, {1, 3}));
  EXPECT_TRUE(std::isfinite(rf.loss));
  EXPECT_NEAR(rf.loss, -std::log(static_cast<double>(std::numeric_limits<float>::min())), 1e-9);
  EXPECT_EQ(df, (std::vector<float>{1, 0, -1}));
  EXPECT_EQ(rf.correct, 0);
}

TEST(SoftmaxCrossEntropy, GradientMatchesFiniteDifferencesInDouble) {
  GradCheckOptions opt;
  for (auto [n, k] : {std::pair<int64_t, int64_t>{3, 2}, {4, 5}, {5, 3}, {1, 7}}) {
    SoftmaxCrossEntropy loss(k);
    std::vector<double> z = random_values(n * k, 100 + n, -3, 3), p(n * k), d(n * k);
    std::vector<int32_t> labels(n);
    for (int64_t i = 0; i < n; ++i) labels[i] = static_cast<int32_t>((i * 7 + 1) % k);
    std::vector<double> soft = random_values(n * k, 200 + n, 0, 1);
    for (int64_t i = 0; i < n; ++i) {  // rows that sum to one
      double s = 0;
      for (int64_t j = 0; j < k; ++j) s += soft[i * k + j];
      for (int64_t j = 0; j < k; ++j) soft[i * k + j] /= s;
    }
    for (bool use_indices : {true, false}) {
      Tensor lab = use_indices ? view(labels, {n}) : view(soft, {n, k});
      auto value = [&] {
        loss.forward(view(z, {n, k}), view(p, {n, k}));
        return loss.loss(view(p, {n, k}), lab, Tensor()).loss;
      };
      loss.forward(view(z, {n, k}), view(p, {n, k}));
      loss.loss(view(p, {n, k}), lab, view(d, {n, k}));
      GradCheckResult r = check_gradient("logits", z, d, value, opt);
      EXPECT_TRUE(r.ok(opt.tolerance)) << "(" << n << ", " << k << ") " << (use_indices ? "indices" : "soft") << ": "
                                       << r.str();
    }
  }
}

TEST(SoftmaxCrossEntropy, CountsArgMaxMatches) {
  SoftmaxCrossEntropy loss(3);
  std::vector<double> p = {0.1, 0.7, 0.2, 0.4, 0.4, 0.2, 0.3, 0.3, 0.4, 0.5, 0.25, 0.25};
  std::vector<int32_t> labels = {1, 1, 2, 2};  // right, wrong (tie goes to class 0), right, wrong
  LossResult r = loss.loss(view(p, {4, 3}), view(labels, {4}), Tensor());
  EXPECT_EQ(r.correct, 2);
  EXPECT_EQ(r.count, 4);
  EXPECT_DOUBLE_EQ(r.accuracy(), 0.5);
}

TEST(SoftmaxCrossEntropy, BadLabelsAreRefusedClearly) {
  SoftmaxCrossEntropy loss(3);
  std::vector<double> p(6, 1.0 / 3);
  std::vector<int32_t> out_of_range = {0, 3};
  try {
    loss.loss(view(p, {2, 3}), view(out_of_range, {2}), Tensor());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("label 3 of sample 1 is outside the classes [0, 3)"));
  }
  std::vector<int32_t> short_labels = {0};
  try {
    loss.loss(view(p, {2, 3}), view(short_labels, {1}), Tensor());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("class-index labels should be (2), got (1)"));
  }
  std::vector<float> wrong_type(6);
  try {
    loss.loss(view(p, {2, 3}), view(wrong_type, {2, 3}), Tensor());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("labels should be i32 (2) class indices or f64 (2, 3) targets"));
  }
  std::vector<double> logits(8), probs(8);
  try {
    loss.forward(view(logits, {2, 4}), view(probs, {2, 4}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("logits should be (N, 3), got (2, 4)"));
  }
}

TEST(SoftmaxCrossEntropy, AllocatesNothing) {
  SoftmaxCrossEntropy loss(3);
  std::vector<float> z = random_floats(24, 1), p(24), d(24);
  std::vector<int32_t> labels = {0, 1, 2, 0, 1, 2, 0, 1};
  Tensor tz = view(z, {8, 3}), tp = view(p, {8, 3}), td = view(d, {8, 3}), tl = view(labels, {8});
  const int64_t before = heap_allocations();
  loss.forward(tz, tp);
  loss.loss(tp, tl, td);
  EXPECT_EQ(heap_allocations() - before, 0);
}

}  // namespace
}  // namespace knotnet::test
