// flatten: NHWC order, output aliasing its input (no buffer, no copy when the pointers agree),
// a copy when they differ, identity gradients by finite differences.
#include <gtest/gtest.h>

#include "engine/layers/flatten.h"
#include "tests/support/alloc_count.h"
#include "tests/support/gradcheck.h"

namespace knotnet::test {
namespace {

TEST(FlattenLayer, ShapeAliasingAndDescription) {
  auto layer = make_layer(spec_line("flatten"), Shape{12, 12, 128}, "flatten_1");
  EXPECT_EQ(layer->output_shape(), Shape{18432});
  EXPECT_EQ(layer->describe(), "flatten");
  EXPECT_TRUE(layer->output_aliases_input());
  EXPECT_TRUE(layer->param_infos().empty());
  EXPECT_TRUE(layer->scratch_infos(4, DType::f32).empty());
}

TEST(FlattenLayer, CopiesInNhwcOrderWhenBuffersDiffer) {
  LayerHarness<float> h("flatten", Shape{3, 2, 4}, 2, 3);
  h.forward();
  EXPECT_EQ(h.y, h.x);  // NHWC memory order is the flattened order
  h.backward();
  EXPECT_EQ(h.dx, h.dy);
}

TEST(FlattenLayer, SameMemoryIsLeftAlone) {
  std::vector<double> buf = random_values(2 * 24, 5);
  const std::vector<double> before = buf;
  auto layer = make_layer(spec_line("flatten"), Shape{2, 3, 4}, "flatten_1");
  layer->bind({}, {}, {});
  Tensor x(buf.data(), Shape{2, 2, 3, 4}, DType::f64);
  Tensor y = x.reshaped(Shape{2, 24});
  const int64_t allocations = heap_allocations();
  layer->forward(x, y, {});
  layer->backward(x, y, y, x, {});
  // Aliased buffers need no kernel at all, on any device.
  Tensor xc = x, yc = y;
  xc.device = yc.device = Device::cuda;
  layer->forward(xc, yc, {});
  EXPECT_EQ(heap_allocations() - allocations, 0);
  EXPECT_EQ(buf, before);
}

TEST(FlattenLayer, GradientIsTheIdentity) {
  GradCheckOptions opt;
  LayerHarness<double> h("flatten", Shape{3, 5, 2}, 2, 7);
  for (const GradCheckResult& r : check_layer_gradients(h, {}, opt)) EXPECT_TRUE(r.ok(opt.tolerance)) << r.str();
}

}  // namespace
}  // namespace knotnet::test
