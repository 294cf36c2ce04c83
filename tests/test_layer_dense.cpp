// dense: shapes and Keras's (in, out) kernel with its fans, forward and backward against plain
// loops in float, finite differences in double, overwriting gradients, no heap allocation.
#include <gtest/gtest.h>

#include "engine/layers/dense.h"
#include "tests/support/alloc_count.h"
#include "tests/support/gradcheck.h"

namespace knotnet::test {
namespace {

struct DenseCase {
  int64_t n, in, out;
};
const std::vector<DenseCase> kCases = {{2, 5, 3}, {3, 8, 4}, {1, 7, 7}, {4, 1, 5}, {5, 6, 1}};

std::string spec(const DenseCase& c) { return "dense " + std::to_string(c.out); }

TEST(DenseLayer, ShapesParametersAndDescription) {
  auto layer = make_layer(spec_line("dense 128"), Shape{12 * 12 * 128}, "dense_1");
  EXPECT_EQ(layer->output_shape(), Shape{128});
  EXPECT_EQ(layer->describe(), "dense 128");
  auto infos = layer->param_infos();
  ASSERT_EQ(infos.size(), 2u);
  EXPECT_EQ(infos[0].name, "kernel");
  EXPECT_EQ(infos[0].shape, (Shape{18432, 128}));  // (in, out), like Keras
  EXPECT_EQ(infos[0].init, Init::glorot_uniform);
  EXPECT_EQ(infos[0].fan_in, 18432);
  EXPECT_EQ(infos[0].fan_out, 128);
  EXPECT_EQ(infos[1].name, "bias");
  EXPECT_EQ(infos[1].shape, Shape{128});
  EXPECT_EQ(infos[1].init, Init::zeros);
  EXPECT_TRUE(layer->needs_input_for_backward());
}

TEST(DenseLayer, ForwardAndBackwardMatchPlainLoopsInFloat) {
  for (const DenseCase& c : kCases) {
    LayerHarness<float> h(spec(c), Shape{c.in}, c.n, 19);
    h.forward();
    h.backward();
    const auto& w = h.params[0];
    const auto& b = h.params[1];
    std::vector<double> y(c.n * c.out), dx(c.n * c.in, 0.0), dw(c.in * c.out, 0.0), db(c.out, 0.0);
    for (int64_t s = 0; s < c.n; ++s)
      for (int64_t o = 0; o < c.out; ++o) {
        double acc = b[o];
        for (int64_t i = 0; i < c.in; ++i) {
          acc += double(h.x[s * c.in + i]) * w[i * c.out + o];
          dx[s * c.in + i] += double(h.dy[s * c.out + o]) * w[i * c.out + o];
          dw[i * c.out + o] += double(h.x[s * c.in + i]) * h.dy[s * c.out + o];
        }
        y[s * c.out + o] = acc;
        db[o] += h.dy[s * c.out + o];
      }
    // Float sums of at most 8 products below 1: 1e-5.
    EXPECT_LT(max_scaled_diff(h.y, y), 1e-5) << spec(c);
    EXPECT_LT(max_scaled_diff(h.dx, dx), 1e-5) << spec(c);
    EXPECT_LT(max_scaled_diff(h.grads[0], dw), 1e-5) << spec(c);
    EXPECT_LT(max_scaled_diff(h.grads[1], db), 1e-5) << spec(c);
  }
}

TEST(DenseLayer, GradientsMatchFiniteDifferencesInDouble) {
  GradCheckOptions opt;
  for (const DenseCase& c : kCases) {
    LayerHarness<double> h(spec(c), Shape{c.in}, c.n, 23);
    auto results = check_layer_gradients(h, {}, opt);
    ASSERT_EQ(results.size(), 3u);
    for (const GradCheckResult& r : results) EXPECT_TRUE(r.ok(opt.tolerance)) << spec(c) << ": " << r.str();
  }
}

TEST(DenseLayer, BackwardOverwritesAndSkipsAnEmptyInputGradient) {
  LayerHarness<double> h("dense 4", Shape{6}, 3, 31);
  h.forward();
  h.backward();
  auto grads = h.grads;
  h.backward();
  h.backward({}, /*with_dx=*/false);
  EXPECT_EQ(h.grads, grads);
  for (double v : h.dx) EXPECT_TRUE(std::isnan(v));
}

TEST(DenseLayer, ForwardAndBackwardAllocateNothing) {
  LayerHarness<float> h("dense 16", Shape{40}, 8, 5);
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
