// Convolution algorithms chosen by timing (engine/layers/conv_autotune.h): every routing of the
// three directions between cuDNN and the implicit GEMM computes the same convolution as the CPU
// (tolerance 1e-4 relative, as in test_cuda_conv.cpp: strict fp32 sums of K*K*C or N*OH*OW
// products), a direction not routed to cuDNN is refused there, a measured model reports what it
// timed per direction, and two models of one shape in one process choose alike. On the CUDA
// emulator the timings come from its virtual clock (tests/cuda_emu), so the choices are the same
// on every run; on a GPU they are real and may differ, which the tests allow for.
#include <gtest/gtest.h>

#include "tests/support/cuda_testing.h"

#ifdef KNOTNET_HAVE_CUDA
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/cuda_context.h"
#include "engine/device_copy.h"
#include "engine/layers/conv.h"
#include "engine/model.h"
#include "kernels/cpu/conv.h"
#include "kernels/cuda/conv_cudnn.h"
#include "kernels/cuda/conv_implicit_gemm.h"

namespace knotnet {
namespace {

using test::DeviceBuffer;

TEST(CudaConvAutotune, EveryRoutingOfTheDirectionsMatchesCpu) {
  KN_REQUIRE_GPU();
  const int64_t n = 3, h = 9, w = 8, c = 5, k = 3, f = 6;
  const cuda::ConvDims d = cuda::ConvDims::make(n, h, w, c, k, f, true);
  const auto g = cpu::ConvGeometry::make(h, w, c, k, f, true);
  const std::vector<float> x = test::random_floats(n * h * w * c, 91), wt = test::random_floats(f * k * k * c, 92),
                           b = test::random_floats(f, 93), dy = test::random_floats(n * g.oh * g.ow * f, 94);
  std::vector<double> y(dy.size()), dx(x.size()), dw(wt.size()), db(b.size());
  {
    auto xd = test::convert<double>(x), wd = test::convert<double>(wt), bd = test::convert<double>(b),
         dyd = test::convert<double>(dy);
    std::vector<double> col(static_cast<size_t>(g.positions() * g.patch())), acc(static_cast<size_t>(f));
    cpu::conv_forward(xd.data(), wd.data(), bd.data(), y.data(), n, g, col.data());
    cpu::conv_backward(xd.data(), wd.data(), dyd.data(), dx.data(), dw.data(), db.data(), n, g, col.data(),
                       acc.data());
  }
  const DeviceBuffer<float> dx_in(x), dw_in(wt), db_in(b), ddy(dy);
  cudaStream_t s = CudaContext::get().compute();
  cuda::CudnnConv conv(CudaContext::get().cudnn(), d, cuda::ConvMath::fp32, size_t(64) << 20);
  DeviceBuffer<char> work(
      static_cast<int64_t>(std::max<size_t>(conv.workspace_bytes(), cuda::conv_igemm_workspace_bytes(d))));
  // cuDNN's timed algorithms (the fastest of each first), to hand to use() for the directions
  // routed to cuDNN.
  DeviceBuffer<float> scratch_y(static_cast<int64_t>(y.size())), scratch_dw(static_cast<int64_t>(wt.size())),
      scratch_dx(static_cast<int64_t>(x.size()));
  const std::vector<cuda::CudnnAlgo> fwd =
      conv.time_forward(dx_in.get(), dw_in.get(), scratch_y.get(), work.get(), work.bytes(), s);
  const std::vector<cuda::CudnnAlgo> filter =
      conv.time_backward_filter(dx_in.get(), ddy.get(), scratch_dw.get(), work.get(), work.bytes(), s);
  const std::vector<cuda::CudnnAlgo> data =
      conv.time_backward_data(dw_in.get(), ddy.get(), scratch_dx.get(), work.get(), work.bytes(), s);
  ASSERT_FALSE(fwd.empty());
  ASSERT_FALSE(filter.empty());
  ASSERT_FALSE(data.empty());
  for (int routing = 0; routing < 8; ++routing) {
    const bool on_cudnn[3] = {(routing & 1) != 0, (routing & 2) != 0, (routing & 4) != 0};
    SCOPED_TRACE("fwd " + std::string(on_cudnn[0] ? "cuDNN" : "implicit") + ", bwd-filter " +
                 (on_cudnn[1] ? "cuDNN" : "implicit") + ", bwd-data " + (on_cudnn[2] ? "cuDNN" : "implicit"));
    EXPECT_LE(conv.use(on_cudnn[0] ? &fwd[0] : nullptr, on_cudnn[1] ? &filter[0] : nullptr,
                       on_cudnn[2] ? &data[0] : nullptr),
              work.bytes());
    DeviceBuffer<float> gy(static_cast<int64_t>(y.size())), gdx(static_cast<int64_t>(x.size())),
        gdw(static_cast<int64_t>(wt.size())), gdb(f);
    if (on_cudnn[0])
      conv.forward(dx_in.get(), dw_in.get(), db_in.get(), gy.get(), n, work.get(), work.bytes(), s);
    else
      cuda::conv_igemm_forward(dx_in.get(), dw_in.get(), db_in.get(), gy.get(), d, s);
    if (on_cudnn[1])
      conv.backward_filter(dx_in.get(), ddy.get(), gdw.get(), gdb.get(), n, work.get(), work.bytes(), s);
    else
      cuda::conv_igemm_backward_filter(dx_in.get(), ddy.get(), gdw.get(), gdb.get(), d, work.get(), work.bytes(), s);
    if (on_cudnn[2])
      conv.backward_data(dw_in.get(), ddy.get(), gdx.get(), n, work.get(), work.bytes(), s);
    else
      cuda::conv_igemm_backward_data(ddy.get(), dw_in.get(), gdx.get(), d, s);
    // A direction left to the implicit GEMM is refused by cuDNN, naming it.
    if (!on_cudnn[0]) {
      try {
        conv.forward(dx_in.get(), dw_in.get(), db_in.get(), gy.get(), n, work.get(), work.bytes(), s);
        ADD_FAILURE() << "cuDNN ran a forward it was not given";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("fwd direction was not set to run on cuDNN"), std::string::npos)
            << e.what();
      }
    }
    KN_CUDA_CHECK(cudaStreamSynchronize(s));
    test::expect_close(gy.download(), y, 1e-4, "y");
    test::expect_close(gdw.download(), dw, 1e-4, "dw");
    test::expect_close(gdb.download(), db, 1e-4, "db");
    test::expect_close(gdx.download(), dx, 1e-4, "dx");
  }
}

const char* kTwoConvSpec =
    "input 12 12 3\n"
    "conv 4 3 valid\n"
    "relu\n"
    "conv 5 3 same\n"
    "relu\n"
    "flatten\n"
    "dense 3\n"
    "softmax\n";

std::unique_ptr<Model> two_conv_model(ConvSearch search, int64_t batch = 4) {
  ModelOptions o;
  o.device = Device::cuda;
  o.batch = batch;
  o.conv_search = search;
  return std::make_unique<Model>(parse_spec(kTwoConvSpec, "two convs"), o);
}

std::vector<std::string> conv_reports(const Model& m) {
  std::vector<std::string> out;
  for (const auto& layer : m.layers())
    if (const auto* conv = dynamic_cast<const ConvLayer*>(layer.get())) out.push_back(conv->device_algorithms());
  return out;
}

TEST(CudaConvAutotune, MeasuredModelReportsWhatItTimedPerDirection) {
  KN_REQUIRE_GPU();
  const auto m = two_conv_model(ConvSearch::measured);
  const std::vector<std::string> r = conv_reports(*m);
  ASSERT_EQ(r.size(), 2u);
  for (const std::string& line : r) std::printf("  %s\n", line.c_str());
  for (size_t i = 0; i < r.size(); ++i) {
    SCOPED_TRACE("conv " + std::to_string(i) + ": " + r[i]);
    EXPECT_EQ(r[i].rfind("fwd: ", 0), 0u);
    EXPECT_NE(r[i].find("; bwd-filter: "), std::string::npos);
    EXPECT_NE(r[i].find(" ms"), std::string::npos);
    EXPECT_NE(r[i].find("implicit GEMM"), std::string::npos);  // timed, chosen or not
    EXPECT_NE(r[i].find("cuDNN algo"), std::string::npos);
  }
  // The first layer's data gradient is never computed, so it is not timed.
  EXPECT_EQ(r[0].find("bwd-data"), std::string::npos) << r[0];
  EXPECT_NE(r[1].find("; bwd-data: "), std::string::npos) << r[1];
}

TEST(CudaConvAutotune, ModelsOfOneShapeChooseAlikeInOneProcess) {
  KN_REQUIRE_GPU();
  const auto a = two_conv_model(ConvSearch::measured, 5);
  const auto b = two_conv_model(ConvSearch::measured, 5);
  EXPECT_EQ(conv_reports(*a), conv_reports(*b));
}

TEST(CudaConvAutotune, HeuristicSearchTimesNothing) {
  KN_REQUIRE_GPU();
  const auto m = two_conv_model(ConvSearch::heuristic);
  for (const std::string& r : conv_reports(*m)) {
    EXPECT_EQ(r.rfind("cuDNN: fwd algo ", 0), 0u) << r;
    EXPECT_EQ(r.find(" ms"), std::string::npos) << r;
  }
}

// A measured model's step against a heuristic one's (which runs cuDNN for every direction): the
// same convolutions, whichever implementation runs each direction (bounds as in
// test_cuda_model.cpp's cuDNN step).
void expect_same_step(int64_t batch) {
  const auto measured = two_conv_model(ConvSearch::measured, batch);
  const auto heuristic = two_conv_model(ConvSearch::heuristic, batch);
  std::vector<uint8_t> pixels(static_cast<size_t>(batch * 12 * 12 * 3));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 37 + 11) % 251);
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int32_t>((i * 7) % 3);
  const Tensor images(pixels.data(), Shape{batch, 12, 12, 3}, DType::u8),
      targets(labels.data(), Shape{batch}, DType::i32);
  for (int64_t n : {batch, batch - 1}) {  // the planned batch, then a partial one
    SCOPED_TRACE("batch " + std::to_string(n));
    const Tensor x = images.first(n), t = targets.first(n);
    const LossResult rm = measured->forward_backward(x, t);
    const LossResult rh = heuristic->forward_backward(x, t);
    EXPECT_NEAR(rm.loss, rh.loss, 1e-4 * std::max(1.0, std::fabs(rh.loss)));
    std::vector<float> gm(static_cast<size_t>(measured->flat_gradients().numel())), gh(gm.size());
    copy_to_host(measured->flat_gradients(), gm.data());
    copy_to_host(heuristic->flat_gradients(), gh.data());
    test::expect_close_l2(gm, gh, 1e-4, "gradients");
  }
}

TEST(CudaConvAutotune, MeasuredAndHeuristicModelsTakeTheSameStep) {
  KN_REQUIRE_GPU();
  expect_same_step(4);
}

#ifdef KNOTNET_CUDA_EMU
// How many directions of a model's convolutions timing gave to cuDNN and to knotnet's own
// kernels (the implicit GEMM, or the direct convolution for a layer with few channels).
std::pair<int, int> routed(const Model& m) {
  int cudnn = 0, own = 0;
  for (const std::string& r : conv_reports(m))
    for (const char* dir : {"fwd: ", "bwd-filter: ", "bwd-data: "}) {
      const size_t at = r.find(dir);
      if (at == std::string::npos) continue;
      const std::string chosen = r.substr(at + std::string(dir).size());
      if (chosen.rfind("cuDNN", 0) == 0) ++cudnn;
      if (chosen.rfind("implicit GEMM", 0) == 0 || chosen.rfind("direct convolution", 0) == 0) ++own;
    }
  return {cudnn, own};
}

// The emulator's stand-in cuDNN made slow on its virtual clock (tests/cuda_emu): timing routes
// every direction, or some, to the implicit GEMM, and the steps stay the same. (Each case has its
// own batch size: the choices are remembered per shape for the rest of the process.)
TEST(CudaConvAutotune, SlowCudnnRoutesEveryDirectionToTheImplicitGemm) {
  const test::ScopedEnv slow("KNOTNET_EMU_CUDNN_COST", "100000");
  const auto m = two_conv_model(ConvSearch::measured, 6);
  EXPECT_EQ(routed(*m), std::make_pair(0, 5));
  expect_same_step(6);
}

TEST(CudaConvAutotune, TimingMayRouteTheDirectionsOfOneModelApart) {
  // At 15 the direct convolution took the one forward cuDNN had won (its virtual time is the
  // fewest threads); at 10 cuDNN wins the second layer's forward.
  const test::ScopedEnv slower("KNOTNET_EMU_CUDNN_COST", "10");
  const auto m = two_conv_model(ConvSearch::measured, 7);
  for (const std::string& line : conv_reports(*m)) std::printf("  %s\n", line.c_str());
  const auto [cudnn, implicit] = routed(*m);
  EXPECT_GT(cudnn, 0);
  EXPECT_GT(implicit, 0);
  expect_same_step(7);
}
#endif

}  // namespace
}  // namespace knotnet

#endif  // KNOTNET_HAVE_CUDA
