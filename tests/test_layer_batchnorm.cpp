// batchnorm: parameters in Keras's order and defaults, training-mode forward and the running
// statistics update against hand computation, inference mode on the running statistics,
// backward against the textbook chain rule (float) and finite differences (double) in both
// modes, on (H, W, C) and (F) inputs of odd and even sizes; no heap allocation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "engine/layers/batchnorm.h"
#include "tests/support/alloc_count.h"
#include "tests/support/gradcheck.h"

namespace knotnet::test {
namespace {

constexpr double kMomentum = 0.99, kEps = 1e-3;  // Keras's defaults

struct BnCase {
  Shape in;
  int64_t n;
};
const std::vector<BnCase> kCases = {
    {Shape{3, 5, 4}, 2}, {Shape{4, 4, 3}, 3}, {Shape{7}, 5}, {Shape{6}, 4}, {Shape{1, 1, 2}, 3}};

// Per-channel batch statistics in double: mean and biased variance over every row.
struct Stats {
  std::vector<double> mean, var;
};
template <typename T>
Stats batch_stats(const std::vector<T>& x, int64_t c) {
  const int64_t m = static_cast<int64_t>(x.size()) / c;
  Stats s{std::vector<double>(c, 0.0), std::vector<double>(c, 0.0)};
  for (int64_t r = 0; r < m; ++r)
    for (int64_t ch = 0; ch < c; ++ch) s.mean[ch] += x[r * c + ch];
  for (auto& v : s.mean) v /= double(m);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t ch = 0; ch < c; ++ch) s.var[ch] += std::pow(x[r * c + ch] - s.mean[ch], 2);
  for (auto& v : s.var) v /= double(m);
  return s;
}

TEST(BatchNormLayer, ParametersFollowKeras) {
  auto layer = make_layer(spec_line("batchnorm"), Shape{126, 126, 64}, "batchnorm_1");
  EXPECT_EQ(layer->describe(), "batchnorm");
  EXPECT_EQ(layer->output_shape(), (Shape{126, 126, 64}));
  auto infos = layer->param_infos();
  ASSERT_EQ(infos.size(), 4u);
  const char* names[] = {"gamma", "beta", "moving_mean", "moving_variance"};
  const Init inits[] = {Init::ones, Init::zeros, Init::zeros, Init::ones};
  const bool trainable[] = {true, true, false, false};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(infos[i].name, names[i]);
    EXPECT_EQ(infos[i].shape, Shape{64});
    EXPECT_EQ(infos[i].init, inits[i]) << names[i];
    EXPECT_EQ(infos[i].trainable, trainable[i]) << names[i];
  }
  auto* bn = dynamic_cast<BatchNormLayer*>(layer.get());
  ASSERT_NE(bn, nullptr);
  EXPECT_EQ(bn->momentum(), kMomentum);
  EXPECT_EQ(bn->epsilon(), kEps);
  EXPECT_TRUE(layer->needs_input_for_backward());
  // Rank-1 features normalise over the batch only.
  EXPECT_EQ(make_layer(spec_line("batchnorm"), Shape{10}, "bn")->param_infos()[0].shape, Shape{10});
}

TEST(BatchNormLayer, TrainingForwardAndRunningUpdateMatchHandComputation) {
  for (const BnCase& cs : kCases) {
    LayerHarness<float> h("batchnorm", cs.in, cs.n, 21);
    const int64_t c = cs.in[cs.in.rank() - 1];
    const std::vector<float> mm0 = h.params[2], mv0 = h.params[3];
    h.forward({Mode::train, 0, 0});
    Stats s = batch_stats(h.x, c);
    std::vector<double> want(h.y.size());
    for (size_t i = 0; i < want.size(); ++i) {
      const int64_t ch = static_cast<int64_t>(i) % c;
      want[i] = h.params[0][ch] * (h.x[i] - s.mean[ch]) / std::sqrt(s.var[ch] + kEps) + h.params[1][ch];
    }
    // Float normalisation of values of size ~1: 1e-5.
    EXPECT_LT(max_scaled_diff(h.y, want), 1e-5) << cs.in.str();
    // Keras: moving = 0.99 * moving + 0.01 * batch statistic, with the BIASED variance.
    std::vector<double> mm(c), mv(c);
    for (int64_t ch = 0; ch < c; ++ch) {
      mm[ch] = kMomentum * mm0[ch] + (1 - kMomentum) * s.mean[ch];
      mv[ch] = kMomentum * mv0[ch] + (1 - kMomentum) * s.var[ch];
    }
    EXPECT_LT(max_scaled_diff(h.params[2], mm), 1e-6) << cs.in.str();
    EXPECT_LT(max_scaled_diff(h.params[3], mv), 1e-6) << cs.in.str();
  }
}

TEST(BatchNormLayer, RunningStatisticsFollowSeveralSteps) {
  LayerHarness<double> h("batchnorm", Shape{3, 3, 2}, 4, 5);
  h.params[2] = {0.0, 0.0};
  h.params[3] = {1.0, 1.0};  // Keras's initial values
  double mm[2] = {0, 0}, mv[2] = {1, 1};
  for (int step = 0; step < 5; ++step) {
    for (size_t i = 0; i < h.x.size(); ++i) h.x[i] = std::sin(0.7 * double(i) + step) * (1 + step);
    h.forward({Mode::train, 0, static_cast<uint64_t>(step)});
    Stats s = batch_stats(h.x, 2);
    for (int ch = 0; ch < 2; ++ch) {
      mm[ch] = 0.99 * mm[ch] + 0.01 * s.mean[ch];
      mv[ch] = 0.99 * mv[ch] + 0.01 * s.var[ch];
      EXPECT_NEAR(h.params[2][ch], mm[ch], 1e-14) << "step " << step;
      EXPECT_NEAR(h.params[3][ch], mv[ch], 1e-14) << "step " << step;
    }
  }
}

TEST(BatchNormLayer, InferenceUsesRunningStatisticsAndChangesNothing) {
  for (const BnCase& cs : kCases) {
    LayerHarness<float> h("batchnorm", cs.in, cs.n, 33);
    const int64_t c = cs.in[cs.in.rank() - 1];
    const auto params = h.params;
    h.forward({Mode::infer, 0, 0});
    std::vector<double> want(h.y.size());
    for (size_t i = 0; i < want.size(); ++i) {
      const int64_t ch = static_cast<int64_t>(i) % c;
      want[i] = double(h.params[0][ch]) * (h.x[i] - double(h.params[2][ch])) / std::sqrt(h.params[3][ch] + kEps) +
                h.params[1][ch];
    }
    EXPECT_LT(max_scaled_diff(h.y, want), 1e-5) << cs.in.str();
    EXPECT_EQ(h.params, params) << "inference must not touch parameters or running statistics";
  }
}

TEST(BatchNormLayer, TrainingBackwardMatchesTextbookChainRuleInFloat) {
  for (const BnCase& cs : kCases) {
    LayerHarness<float> h("batchnorm", cs.in, cs.n, 44);
    const int64_t c = cs.in[cs.in.rank() - 1];
    const int64_t m = static_cast<int64_t>(h.x.size()) / c;
    h.forward();
    h.backward();
    // The chain rule through mean and variance written out term by term (Ioffe & Szegedy 2015).
    Stats s = batch_stats(h.x, c);
    std::vector<double> dx(h.x.size()), dgamma(c, 0.0), dbeta(c, 0.0), dvar(c, 0.0), dmean(c, 0.0), sum_xm(c, 0.0);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t ch = 0; ch < c; ++ch) {
        const size_t i = r * c + ch;
        const double xm = h.x[i] - s.mean[ch], inv = 1 / std::sqrt(s.var[ch] + kEps), dxh = h.dy[i] * h.params[0][ch];
        dgamma[ch] += h.dy[i] * xm * inv;
        dbeta[ch] += h.dy[i];
        dvar[ch] += dxh * xm * -0.5 * std::pow(s.var[ch] + kEps, -1.5);
        dmean[ch] += -dxh * inv;
        sum_xm[ch] += -2 * xm;
      }
    for (int64_t ch = 0; ch < c; ++ch) dmean[ch] += dvar[ch] * sum_xm[ch] / double(m);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t ch = 0; ch < c; ++ch) {
        const size_t i = r * c + ch;
        const double xm = h.x[i] - s.mean[ch], inv = 1 / std::sqrt(s.var[ch] + kEps);
        dx[i] = h.dy[i] * h.params[0][ch] * inv + dvar[ch] * 2 * xm / double(m) + dmean[ch] / double(m);
      }
    // Float, sums over at most 60 rows: 1e-4 scaled difference.
    EXPECT_LT(max_scaled_diff(h.dx, dx), 1e-4) << cs.in.str();
    EXPECT_LT(max_scaled_diff(h.grads[0], dgamma), 1e-5) << cs.in.str();
    EXPECT_LT(max_scaled_diff(h.grads[1], dbeta), 1e-5) << cs.in.str();
  }
}

TEST(BatchNormLayer, GradientsMatchFiniteDifferencesInTrainingMode) {
  GradCheckOptions opt;
  for (const BnCase& cs : kCases) {
    LayerHarness<double> h("batchnorm", cs.in, cs.n, 55);
    auto results = check_layer_gradients(h, {Mode::train, 0, 0}, opt);
    ASSERT_EQ(results.size(), 3u);  // input, gamma, beta: the running statistics are not trainable
    for (const GradCheckResult& r : results) EXPECT_TRUE(r.ok(opt.tolerance)) << cs.in.str() << ": " << r.str();
  }
}

TEST(BatchNormLayer, GradientsMatchFiniteDifferencesInInferenceMode) {
  GradCheckOptions opt;
  for (const BnCase& cs : kCases) {
    LayerHarness<double> h("batchnorm", cs.in, cs.n, 66);
    for (const GradCheckResult& r : check_layer_gradients(h, {Mode::infer, 0, 0}, opt))
      EXPECT_TRUE(r.ok(opt.tolerance)) << cs.in.str() << ": " << r.str();
  }
}

TEST(BatchNormLayer, BackwardWithoutInputGradientStillGivesParameterGradients) {
  LayerHarness<double> h("batchnorm", Shape{3, 2, 3}, 2, 77);
  h.forward();
  h.backward();
  auto grads = h.grads;
  h.backward({}, /*with_dx=*/false);
  EXPECT_EQ(h.grads, grads);
  for (double v : h.dx) EXPECT_TRUE(std::isnan(v));
}

TEST(BatchNormLayer, ForwardAndBackwardAllocateNothing) {
  LayerHarness<float> h("batchnorm", Shape{5, 5, 8}, 4, 5);
  h.forward();
  h.backward();
  Tensor x = h.tx(), y = h.ty(), dy = h.tdy(), dx = h.tdx();
  const int64_t before = heap_allocations();
  for (Mode mode : {Mode::train, Mode::infer}) {
    StepContext ctx{mode, 0, 0};
    h.layer().forward(x, y, ctx);
    h.layer().backward(x, y, dy, dx, ctx);
  }
  EXPECT_EQ(heap_allocations() - before, 0);
}

}  // namespace
}  // namespace knotnet::test
