// relu: forward and backward against the definition, backward reading the output (dx = dy
// where y > 0, the gradient at exactly 0 being 0), finite differences in double skipping
// inputs within a step of the kink at 0, no heap allocation.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/layers/relu.h"
#include "tests/support/alloc_count.h"
#include "tests/support/gradcheck.h"

namespace knotnet::test {
namespace {

TEST(ReluLayer, ShapeAndDescription) {
  for (Shape in : {Shape{5, 4, 3}, Shape{17}}) {
    auto layer = make_layer(spec_line("relu"), in, "relu_1");
    EXPECT_EQ(layer->output_shape(), in);
    EXPECT_EQ(layer->describe(), "relu");
    EXPECT_TRUE(layer->param_infos().empty());
    EXPECT_TRUE(layer->needs_output_for_backward());
    EXPECT_FALSE(layer->needs_input_for_backward());
  }
}

TEST(ReluLayer, ForwardAndBackwardMatchTheDefinition) {
  LayerHarness<float> h("relu", Shape{3, 5, 2}, 3, 9);
  h.x[0] = 0.0f;  // exactly at the kink: output 0, gradient 0
  h.x[1] = -0.0f;
  h.forward();
  h.backward();
  for (size_t i = 0; i < h.x.size(); ++i) {
    EXPECT_EQ(h.y[i], h.x[i] > 0 ? h.x[i] : 0.0f) << i;
    EXPECT_EQ(h.dx[i], h.x[i] > 0 ? h.dy[i] : 0.0f) << i;
  }
  EXPECT_EQ(h.dx[0], 0.0f);
}

TEST(ReluLayer, BackwardReadsTheOutputNotTheInput) {
  LayerHarness<double> h("relu", Shape{6}, 2, 3);
  h.forward();
  // The model may reuse the input's memory once forward is done: backward must not need it.
  Tensor none;
  h.layer().backward(none, h.ty(), h.tdy(), h.tdx(), {});
  for (size_t i = 0; i < h.x.size(); ++i) EXPECT_EQ(h.dx[i], h.y[i] > 0 ? h.dy[i] : 0.0) << i;
}

TEST(ReluLayer, GradientsMatchFiniteDifferencesAwayFromTheKink) {
  GradCheckOptions opt;
  for (Shape in : {Shape{3, 5, 2}, Shape{4, 4, 3}, Shape{9}}) {
    LayerHarness<double> h("relu", in, 3, 13);
    // Put a few inputs right at (or within a step of) the kink: they must be skipped.
    h.x[0] = 0.0;
    h.x[1] = 0.5 * opt.step;
    h.x[2] = -0.5 * opt.step;
    auto near_kink = [&](int64_t i) { return std::abs(h.x[i]) < 2 * opt.step; };
    auto results = check_layer_gradients(h, {}, opt, near_kink);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_TRUE(results[0].ok(opt.tolerance)) << in.str() << ": " << results[0].str();
    EXPECT_GE(results[0].skipped, 3) << results[0].str();
  }
}

TEST(ReluLayer, ForwardAndBackwardAllocateNothing) {
  LayerHarness<float> h("relu", Shape{8, 8, 4}, 2, 5);
  h.forward();
  h.backward();
  Tensor x = h.tx(), y = h.ty(), dy = h.tdy(), dx = h.tdx();
  const int64_t before = heap_allocations();
  h.layer().forward(x, y, {});
  h.layer().backward(x, y, dy, dx, {});
  EXPECT_EQ(heap_allocations() - before, 0);
}

}  // namespace
}  // namespace knotnet::test
