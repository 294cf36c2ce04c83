// conv: shapes and parameters, the GEMM kernel against a direct 7-loop convolution (forward
// and every gradient) in float, finite-difference gradients in double on odd and even shapes,
// no heap allocation in forward/backward, and the CUDA path refusing clearly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/layers/conv.h"
#include "tests/support/alloc_count.h"
#include "tests/support/gradcheck.h"

namespace knotnet::test {
namespace {

using ::testing::HasSubstr;

struct ConvCase {
  int64_t n, h, w, c, f, k;
  bool same;
  std::string spec() const {
    return "conv " + std::to_string(f) + " " + std::to_string(k) + (same ? " same" : " valid");
  }
};

// Odd and even sizes, kernels 1 to 4, both paddings ('same' with an even kernel pads 1 before
// and 2 after for K = 4).
const std::vector<ConvCase> kCases = {
    {2, 5, 6, 3, 4, 3, false}, {3, 7, 5, 2, 5, 3, true}, {2, 6, 6, 3, 2, 4, true}, {2, 5, 4, 3, 3, 1, false},
    {1, 4, 7, 2, 3, 2, false}, {2, 3, 3, 1, 2, 3, true}, {2, 6, 5, 2, 3, 2, true},
};

// The direct definition, in double: y[n,oh,ow,f] = b[f] + sum x[n, oh+kh-pt, ow+kw-pl, c] w[f,kh,kw,c].
struct Direct {
  ConvCase cs;
  int64_t oh, ow, pt;
  explicit Direct(const ConvCase& c) : cs(c) {
    pt = c.same ? (c.k - 1) / 2 : 0;
    oh = c.same ? c.h : c.h - c.k + 1;
    ow = c.same ? c.w : c.w - c.k + 1;
  }
  template <typename F>
  void each(F&& f) const {  // f(x index, w index, y index) for every term of the sum
    for (int64_t n = 0; n < cs.n; ++n)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j)
          for (int64_t o = 0; o < cs.f; ++o)
            for (int64_t kh = 0; kh < cs.k; ++kh)
              for (int64_t kw = 0; kw < cs.k; ++kw)
                for (int64_t c = 0; c < cs.c; ++c) {
                  const int64_t ih = i + kh - pt, iw = j + kw - pt;
                  if (ih < 0 || ih >= cs.h || iw < 0 || iw >= cs.w) continue;
                  f(((n * cs.h + ih) * cs.w + iw) * cs.c + c, ((o * cs.k + kh) * cs.k + kw) * cs.c + c,
                    ((n * oh + i) * ow + j) * cs.f + o);
                }
  }
};

TEST(ConvLayer, ShapesParametersAndDescription) {
  auto layer = make_layer(spec_line("conv 64 3"), Shape{128, 128, 3}, "conv_1");
  EXPECT_EQ(layer->output_shape(), (Shape{126, 126, 64}));
  EXPECT_EQ(layer->describe(), "conv 64 3 valid");
  auto infos = layer->param_infos();
  ASSERT_EQ(infos.size(), 2u);
  EXPECT_EQ(infos[0].name, "kernel");
  EXPECT_EQ(infos[0].shape, (Shape{64, 3, 3, 3}));  // (F, K, K, C)
  EXPECT_EQ(infos[0].init, Init::glorot_uniform);
  EXPECT_EQ(infos[0].fan_in, 27);
  EXPECT_EQ(infos[0].fan_out, 576);
  EXPECT_EQ(infos[1].name, "bias");
  EXPECT_EQ(infos[1].shape, Shape{64});
  EXPECT_EQ(infos[1].init, Init::zeros);
  EXPECT_TRUE(layer->needs_input_for_backward());

  auto same = make_layer(spec_line("conv 96 3 same"), Shape{63, 63, 64}, "conv_2");
  EXPECT_EQ(same->output_shape(), (Shape{63, 63, 96}));
  EXPECT_EQ(same->describe(), "conv 96 3 same");
  // The GPU convolution's choice reads back; 'cudnn' is the default and is not written.
  EXPECT_EQ(make_layer(spec_line("conv 8 3 valid implicit"), Shape{9, 9, 3}, "c")->describe(), "conv 8 3 valid implicit");
  EXPECT_EQ(make_layer(spec_line("conv 8 3 same cudnn"), Shape{9, 9, 3}, "c")->describe(), "conv 8 3 same");
  // The CPU plan does not change with it.
  EXPECT_EQ(make_layer(spec_line("conv 8 3 valid implicit"), Shape{9, 9, 3}, "c")->scratch_infos(4, DType::f32).size(),
            3u);
  auto even = make_layer(spec_line("conv 2 4 same"), Shape{5, 6, 3}, "conv_3");
  EXPECT_EQ(even->output_shape(), (Shape{5, 6, 2}));
  // Scratch is one sample's columns, whatever the batch.
  for (const ScratchInfo& s : layer->scratch_infos(32, DType::f32)) {
    if (s.dtype == DType::f32) {
      EXPECT_EQ(s.shape, (Shape{126 * 126, 27})) << s.name;
    }
  }
}

TEST(ConvLayer, ForwardMatchesDirectConvolutionInFloat) {
  for (const ConvCase& cs : kCases) {
    LayerHarness<float> h(cs.spec(), Shape{cs.h, cs.w, cs.c}, cs.n, 7);
    h.forward();
    Direct d(cs);
    ASSERT_EQ(h.y.size(), static_cast<size_t>(cs.n * d.oh * d.ow * cs.f)) << cs.spec();
    std::vector<double> want(h.y.size());
    for (size_t i = 0; i < want.size(); ++i) want[i] = h.params[1][i % cs.f];
    d.each([&](int64_t xi, int64_t wi, int64_t yi) { want[yi] += double(h.x[xi]) * double(h.params[0][wi]); });
    // Float sums of at most 48 products of values below 1: 1e-5 leaves a wide margin.
    EXPECT_LT(max_scaled_diff(h.y, want), 1e-5) << cs.spec() << " on " << cs.h << "x" << cs.w << "x" << cs.c;
  }
}

TEST(ConvLayer, BackwardMatchesDirectConvolutionInFloat) {
  for (const ConvCase& cs : kCases) {
    LayerHarness<float> h(cs.spec(), Shape{cs.h, cs.w, cs.c}, cs.n, 11);
    h.forward();
    h.backward();
    Direct d(cs);
    std::vector<double> dx(h.x.size(), 0.0), dw(h.params[0].size(), 0.0), db(cs.f, 0.0);
    d.each([&](int64_t xi, int64_t wi, int64_t yi) {
      dx[xi] += double(h.dy[yi]) * double(h.params[0][wi]);
      dw[wi] += double(h.dy[yi]) * double(h.x[xi]);
    });
    for (size_t i = 0; i < h.dy.size(); ++i) db[i % cs.f] += h.dy[i];
    // Sums of up to a few hundred float products: 2e-5 scaled difference.
    EXPECT_LT(max_scaled_diff(h.dx, dx), 2e-5) << cs.spec();
    EXPECT_LT(max_scaled_diff(h.grads[0], dw), 2e-5) << cs.spec();
    EXPECT_LT(max_scaled_diff(h.grads[1], db), 2e-5) << cs.spec();
  }
}

TEST(ConvLayer, GradientsMatchFiniteDifferencesInDouble) {
  GradCheckOptions opt;
  for (const ConvCase& cs : kCases) {
    LayerHarness<double> h(cs.spec(), Shape{cs.h, cs.w, cs.c}, cs.n, 3);
    for (const GradCheckResult& r : check_layer_gradients(h, {}, opt)) {
      EXPECT_TRUE(r.ok(opt.tolerance)) << cs.spec() << " on " << cs.h << "x" << cs.w << "x" << cs.c << ": " << r.str();
    }
  }
}

TEST(ConvLayer, BackwardOverwritesAndSkipsAnEmptyInputGradient) {
  LayerHarness<double> h("conv 3 3 same", Shape{5, 4, 2}, 2, 5);
  h.forward();
  h.backward();
  auto grads = h.grads;
  ASSERT_TRUE(all_finite(h.dx));
  // Run it twice more (gradients must not accumulate) and without dx (the first layer).
  h.backward();
  h.backward({}, /*with_dx=*/false);
  EXPECT_EQ(h.grads, grads);
  for (double v : h.dx) EXPECT_TRUE(std::isnan(v)) << "dx was written although it was not asked for";
}

TEST(ConvLayer, ForwardAndBackwardAllocateNothing) {
  LayerHarness<float> h("conv 8 3 same", Shape{9, 9, 4}, 3, 5);
  h.forward();
  h.backward();  // warm up (BLAS threads, if any, start here)
  Tensor x = h.tx(), y = h.ty(), dy = h.tdy(), dx = h.tdx();
  StepContext ctx;
  const int64_t before = heap_allocations();
  h.layer().forward(x, y, ctx);
  h.layer().backward(x, y, dy, dx, ctx);
  EXPECT_EQ(heap_allocations() - before, 0);
}

TEST(ConvLayer, CudaTensorsAreRefusedClearly) {
  LayerHarness<float> h("conv 2 3", Shape{4, 4, 1}, 1);
  Tensor x = h.tx(), y = h.ty();
  x.device = y.device = Device::cuda;
  try {
    h.layer().forward(x, y, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
#ifdef KNOTNET_HAVE_CUDA
    // With the backend built, a layer the model never prepared for the GPU refuses to run.
    EXPECT_THAT(e.what(), HasSubstr("prepare_device was not called"));
#else
    EXPECT_THAT(e.what(), HasSubstr("CUDA backend is not in this build yet"));
#endif
    EXPECT_THAT(e.what(), HasSubstr("layer_1"));
  }
}

}  // namespace
}  // namespace knotnet::test
