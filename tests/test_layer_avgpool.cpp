// avgpool 2: floor shapes for odd sizes, forward and backward against a plain window mean in
// double, dx fully written (zeros in dropped rows/columns), finite differences in double, no heap
// allocation; and the spec line it comes from.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "engine/layers/avgpool.h"
#include "tests/support/alloc_count.h"
#include "tests/support/gradcheck.h"

namespace knotnet::test {
namespace {

const std::vector<Shape> kShapes = {Shape{4, 6, 3}, Shape{5, 7, 2}, Shape{3, 3, 1}, Shape{2, 5, 4}, Shape{7, 2, 3}};

int64_t idx(const Shape& s, int64_t n, int64_t i, int64_t j, int64_t c) {
  return ((n * s[0] + i) * s[1] + j) * s[2] + c;
}

TEST(AvgPoolLayer, FloorShapesAndDescription) {
  EXPECT_EQ(make_layer(spec_line("avgpool 2"), Shape{128, 128, 3}, "p")->output_shape(), (Shape{64, 64, 3}));
  EXPECT_EQ(make_layer(spec_line("avgpool 2"), Shape{63, 63, 96}, "p")->output_shape(), (Shape{31, 31, 96}));
  EXPECT_EQ(make_layer(spec_line("avgpool 2"), Shape{5, 2, 1}, "p")->output_shape(), (Shape{2, 1, 1}));
  auto layer = make_layer(spec_line("avgpool 2"), Shape{4, 4, 2}, "p");
  EXPECT_STREQ(layer->kind(), "avgpool");
  EXPECT_EQ(layer->describe(), "avgpool 2");
  EXPECT_TRUE(layer->param_infos().empty());
  EXPECT_TRUE(layer->scratch_infos(8, DType::f32).empty());
  EXPECT_FALSE(layer->needs_input_for_backward());
  EXPECT_FALSE(layer->needs_output_for_backward());
}

TEST(AvgPoolLayer, ForwardAndBackwardMatchAWindowMeanOnOddSizes) {
  for (const Shape& in : kShapes) {
    const int64_t n = 3;
    LayerHarness<float> h("avgpool 2", in, n, 17);
    h.forward();
    h.backward();
    const Shape out = h.layer().output_shape();
    std::vector<double> y(h.y.size()), dx(h.x.size(), 0.0);
    for (int64_t s = 0; s < n; ++s)
      for (int64_t i = 0; i < out[0]; ++i)
        for (int64_t j = 0; j < out[1]; ++j)
          for (int64_t c = 0; c < in[2]; ++c) {
            const int64_t o = idx(out, s, i, j, c);
            for (int64_t di = 0; di < 2; ++di)
              for (int64_t dj = 0; dj < 2; ++dj) {
                const int64_t k = idx(in, s, 2 * i + di, 2 * j + dj, c);
                y[o] += 0.25 * h.x[k];
                dx[k] = 0.25 * h.dy[o];
              }
          }
    ASSERT_EQ(h.y.size(), y.size());
    for (size_t k = 0; k < y.size(); ++k) EXPECT_NEAR(h.y[k], y[k], 1e-6 * (1 + std::abs(y[k]))) << in.str() << " y " << k;
    // A quarter is exact: dx must equal it, and be zero (not poison) in dropped rows/columns.
    for (size_t k = 0; k < dx.size(); ++k) EXPECT_EQ(h.dx[k], static_cast<float>(dx[k])) << in.str() << " dx " << k;
  }
}

TEST(AvgPoolLayer, GradientsMatchFiniteDifferences) {
  GradCheckOptions opt;
  for (const Shape& in : kShapes) {
    LayerHarness<double> h("avgpool 2", in, 2, 29);
    auto results = check_layer_gradients(h, {}, opt);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_TRUE(results[0].ok(opt.tolerance)) << in.str() << ": " << results[0].str();
    EXPECT_EQ(results[0].skipped, 0) << results[0].str();
  }
}

// First in a model, the layer gets no dx: backward must do nothing (and not touch dx's poison).
TEST(AvgPoolLayer, BackwardWithoutAnInputGradientIsANoOp) {
  LayerHarness<float> h("avgpool 2", Shape{6, 6, 3}, 2, 7);
  h.forward();
  h.backward({}, /*with_dx=*/false);
  for (float v : h.dx) EXPECT_TRUE(std::isnan(v));
}

TEST(AvgPoolLayer, ForwardAndBackwardAllocateNothing) {
  LayerHarness<float> h("avgpool 2", Shape{9, 8, 4}, 2, 5);
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
