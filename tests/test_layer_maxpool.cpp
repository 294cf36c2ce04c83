// maxpool 2: floor shapes for odd sizes, forward and backward against a plain window scan in
// float, ties going to the first maximum, dx fully written (zeros in dropped rows/columns),
// finite differences in double skipping inputs within a step of a tie, no heap allocation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "engine/layers/maxpool.h"
#include "tests/support/alloc_count.h"
#include "tests/support/gradcheck.h"

namespace knotnet::test {
namespace {

const std::vector<Shape> kShapes = {Shape{4, 6, 3}, Shape{5, 7, 2}, Shape{3, 3, 1}, Shape{2, 5, 4}, Shape{7, 2, 3}};

int64_t idx(const Shape& s, int64_t n, int64_t i, int64_t j, int64_t c) {
  return ((n * s[0] + i) * s[1] + j) * s[2] + c;
}

TEST(MaxPoolLayer, FloorShapesAndDescription) {
  EXPECT_EQ(make_layer(spec_line("maxpool 2"), Shape{126, 126, 64}, "p")->output_shape(), (Shape{63, 63, 64}));
  EXPECT_EQ(make_layer(spec_line("maxpool 2"), Shape{63, 63, 96}, "p")->output_shape(), (Shape{31, 31, 96}));
  EXPECT_EQ(make_layer(spec_line("maxpool 2"), Shape{5, 2, 1}, "p")->output_shape(), (Shape{2, 1, 1}));
  auto layer = make_layer(spec_line("maxpool 2"), Shape{4, 4, 2}, "p");
  EXPECT_EQ(layer->describe(), "maxpool 2");
  EXPECT_TRUE(layer->param_infos().empty());
  EXPECT_FALSE(layer->needs_input_for_backward());
  EXPECT_FALSE(layer->needs_output_for_backward());
  auto scratch = layer->scratch_infos(8, DType::f32);
  ASSERT_EQ(scratch.size(), 1u);
  EXPECT_EQ(scratch[0].shape, (Shape{8, 2, 2, 2}));
  EXPECT_EQ(scratch[0].span, Span::forward_to_backward);
}

TEST(MaxPoolLayer, ForwardAndBackwardMatchAWindowScanOnOddSizes) {
  for (const Shape& in : kShapes) {
    const int64_t n = 3;
    LayerHarness<float> h("maxpool 2", in, n, 17);
    h.forward();
    h.backward();
    const Shape out = h.layer().output_shape();
    std::vector<float> y(h.y.size()), dx(h.x.size(), 0.0f);
    for (int64_t s = 0; s < n; ++s)
      for (int64_t i = 0; i < out[0]; ++i)
        for (int64_t j = 0; j < out[1]; ++j)
          for (int64_t c = 0; c < in[2]; ++c) {
            int64_t best = idx(in, s, 2 * i, 2 * j, c);
            for (int64_t di = 0; di < 2; ++di)
              for (int64_t dj = 0; dj < 2; ++dj) {
                const int64_t k = idx(in, s, 2 * i + di, 2 * j + dj, c);
                if (h.x[k] > h.x[best]) best = k;
              }
            const int64_t o = idx(out, s, i, j, c);
            y[o] = h.x[best];
            dx[best] = h.dy[o];
          }
    EXPECT_EQ(h.y, y) << in.str();
    EXPECT_EQ(h.dx, dx) << in.str() << " (dx must be fully written, zeros off the maxima)";
  }
}

TEST(MaxPoolLayer, TiesGoToTheFirstMaximum) {
  LayerHarness<float> h("maxpool 2", Shape{2, 2, 1}, 4, 1);
  // Window order: top-left, top-right, bottom-left, bottom-right.
  h.x = {1,  1,  1,  1,   // all tied: top-left
         0,  2,  2,  2,   // top-right first
         0,  0,  3,  3,   // bottom-left first
         -1, -1, -1, 0};  // bottom-right alone
  h.dy = {10, 20, 30, 40};
  h.forward();
  h.backward();
  EXPECT_EQ(h.y, (std::vector<float>{1, 2, 3, 0}));
  EXPECT_EQ(h.dx, (std::vector<float>{10, 0, 0, 0, 0, 20, 0, 0, 0, 0, 30, 0, 0, 0, 0, 40}));
}

TEST(MaxPoolLayer, GradientsMatchFiniteDifferencesAwayFromTies) {
  GradCheckOptions opt;
  for (const Shape& in : kShapes) {
    const int64_t n = 2;
    LayerHarness<double> h("maxpool 2", in, n, 29);
    // Plant a tie and a near-tie in the first window: those entries must be skipped.
    h.x[idx(in, 0, 0, 1, 0)] = h.x[idx(in, 0, 0, 0, 0)];
    h.x[idx(in, 1, 1, 0, 0)] = h.x[idx(in, 1, 0, 0, 0)] + 0.5 * opt.step;
    // Entry k is near a kink if another entry of its window is within two steps of it.
    auto near_tie = [&](int64_t k) {
      const int64_t c = k % in[2], j = (k / in[2]) % in[1], i = (k / (in[2] * in[1])) % in[0], s = k / in.numel();
      if (i / 2 >= in[0] / 2 || j / 2 >= in[1] / 2) return false;  // a dropped row or column
      for (int64_t di = 0; di < 2; ++di)
        for (int64_t dj = 0; dj < 2; ++dj) {
          const int64_t o = idx(in, s, (i / 2) * 2 + di, (j / 2) * 2 + dj, c);
          if (o != k && std::abs(h.x[o] - h.x[k]) < 2 * opt.step) return true;
        }
      return false;
    };
    auto results = check_layer_gradients(h, {}, opt, near_tie);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_TRUE(results[0].ok(opt.tolerance)) << in.str() << ": " << results[0].str();
    EXPECT_GE(results[0].skipped, 4) << results[0].str();
  }
}

TEST(MaxPoolLayer, ForwardAndBackwardAllocateNothing) {
  LayerHarness<float> h("maxpool 2", Shape{9, 8, 4}, 2, 5);
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
