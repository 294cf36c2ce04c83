// dropout: the exact mask formula (keep iff random_uniform(seed, fnv1a64(name) + step, k) >=
// rate, kept values scaled by 1 / (1 - rate)), pinned bits that a Python reimplementation can
// check itself against, determinism in (seed, step, name), the drop rate, the identity at
// inference, backward regenerating the same mask, finite differences, no heap allocation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "engine/layers/dropout.h"
#include "engine/rng.h"
#include "tests/support/alloc_count.h"
#include "tests/support/gradcheck.h"

namespace knotnet::test {
namespace {

TEST(Fnv1a64, KnownVectors) {
  // The published FNV-1a 64-bit test vectors.
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(fnv1a64("foobar"), 0x85944171f73967e8ull);
  const char bytes[] = {'f', 'o', 'o', 'b', 'a', 'r'};
  EXPECT_EQ(fnv1a64(bytes, sizeof bytes), 0x85944171f73967e8ull);
}

TEST(DropoutLayer, DescriptionAndShape) {
  auto layer = make_layer(spec_line("dropout 0.5"), Shape{128}, "dropout_1");
  EXPECT_EQ(layer->describe(), "dropout 0.5");
  EXPECT_EQ(layer->output_shape(), Shape{128});
  EXPECT_TRUE(layer->param_infos().empty());
  EXPECT_TRUE(layer->scratch_infos(32, DType::f32).empty()) << "no mask buffer: backward regenerates the mask";
  EXPECT_EQ(make_layer(spec_line("dropout .25"), Shape{4, 4, 2}, "d")->describe(), "dropout 0.25");
  EXPECT_EQ(make_layer(spec_line("dropout 0"), Shape{3}, "d")->describe(), "dropout 0");
  EXPECT_EQ(make_layer(spec_line("dropout 0.3"), Shape{3}, "d")->describe(), "dropout 0.3");
}

TEST(DropoutLayer, FollowsTheDocumentedFormulaExactly) {
  for (double rate : {0.5, 0.3, 0.1}) {
    LayerHarness<float> h("dropout " + std::to_string(rate), Shape{5, 3, 2}, 4, 3, "dropout_1");
    const StepContext ctx{Mode::train, 1234, 7};
    h.forward(ctx);
    h.backward(ctx);
    const uint64_t stream = fnv1a64("dropout_1") + 7;
    const float scale = static_cast<float>(1.0 / (1.0 - rate));
    for (size_t k = 0; k < h.x.size(); ++k) {
      const bool keep = static_cast<double>(random_uniform(1234, stream, k)) >= rate;
      EXPECT_EQ(h.y[k], keep ? h.x[k] * scale : 0.0f) << "rate " << rate << " element " << k;
      EXPECT_EQ(h.dx[k], keep ? h.dy[k] * scale : 0.0f) << "rate " << rate << " element " << k;
    }
  }
}

TEST(DropoutLayer, PinnedMaskBits) {
  // Seed 42, layer "dropout_1", step 0, rate 0.5, elements 0..31 of the batch tensor. A
  // reimplementation (the Python golden-test script) should reproduce this string.
  LayerHarness<double> h("dropout 0.5", Shape{32}, 1, 1, "dropout_1");
  std::fill(h.x.begin(), h.x.end(), 1.0);
  h.forward({Mode::train, 42, 0});
  std::string bits;
  for (double v : h.y) bits += v != 0 ? '1' : '0';
  EXPECT_EQ(bits, "00011011001011000110100111010100");
  EXPECT_EQ(random_bits(42, fnv1a64("dropout_1"), 0) >> 40, 7764246u);
}

TEST(DropoutLayer, MaskDependsOnSeedStepAndNameOnly) {
  auto mask = [](const std::string& name, uint64_t seed, uint64_t step) {
    LayerHarness<double> h("dropout 0.5", Shape{64}, 2, 1, name);
    std::fill(h.x.begin(), h.x.end(), 1.0);
    h.forward({Mode::train, seed, step});
    return h.y;
  };
  const auto base = mask("dropout_1", 42, 3);
  EXPECT_EQ(mask("dropout_1", 42, 3), base);
  EXPECT_NE(mask("dropout_1", 42, 4), base);
  EXPECT_NE(mask("dropout_1", 43, 3), base);
  EXPECT_NE(mask("dropout_2", 42, 3), base);
}

TEST(DropoutLayer, DropsTheRateAndPreservesTheMean) {
  for (double rate : {0.1, 0.5, 0.8}) {
    const int64_t n = 64, f = 1000;  // 64,000 draws
    LayerHarness<double> h("dropout " + std::to_string(rate), Shape{f}, n, 1, "dropout_1");
    std::fill(h.x.begin(), h.x.end(), 1.0);
    h.forward({Mode::train, 9, 0});
    int64_t dropped = 0;
    double sum = 0;
    for (double v : h.y) {
      dropped += v == 0.0;
      if (v != 0.0) {
        EXPECT_DOUBLE_EQ(v, 1.0 / (1.0 - rate));
      }
      sum += v;
    }
    const double count = static_cast<double>(n * f);
    const double sigma = std::sqrt(rate * (1 - rate) / count);  // of the dropped fraction
    EXPECT_NEAR(static_cast<double>(dropped) / count, rate, 5 * sigma) << "rate " << rate;
    EXPECT_NEAR(sum / count, 1.0, 5 * sigma / (1 - rate)) << "rate " << rate;  // inverted dropout keeps E[y] = x
  }
}

TEST(DropoutLayer, RateZeroKeepsEverything) {
  LayerHarness<float> h("dropout 0", Shape{50}, 3, 2);
  h.forward({Mode::train, 5, 5});
  EXPECT_EQ(h.y, h.x);
}

TEST(DropoutLayer, InferenceIsTheIdentity) {
  LayerHarness<float> h("dropout 0.5", Shape{6, 6, 2}, 3, 4);
  h.forward({Mode::infer, 42, 0});
  EXPECT_EQ(h.y, h.x);
  h.backward({Mode::infer, 42, 0});
  EXPECT_EQ(h.dx, h.dy);
}

TEST(DropoutLayer, GradientsMatchFiniteDifferencesInDouble) {
  GradCheckOptions opt;
  for (Shape in : {Shape{5, 3, 2}, Shape{11}}) {
    LayerHarness<double> h("dropout 0.4", in, 3, 8);
    for (const GradCheckResult& r : check_layer_gradients(h, {Mode::train, 77, 2}, opt))
      EXPECT_TRUE(r.ok(opt.tolerance)) << in.str() << ": " << r.str();
  }
}

TEST(DropoutLayer, ForwardAndBackwardAllocateNothing) {
  LayerHarness<float> h("dropout 0.5", Shape{128}, 8, 5);
  h.forward();
  h.backward();
  Tensor x = h.tx(), y = h.ty(), dy = h.tdy(), dx = h.tdx();
  const int64_t before = heap_allocations();
  for (Mode mode : {Mode::train, Mode::infer}) {
    StepContext ctx{mode, 1, 2};
    h.layer().forward(x, y, ctx);
    h.layer().backward(x, y, dy, dx, ctx);
  }
  EXPECT_EQ(heap_allocations() - before, 0);
}

}  // namespace
}  // namespace knotnet::test
