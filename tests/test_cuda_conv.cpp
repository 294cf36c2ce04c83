// GPU convolutions (hand-written implicit GEMM, and cuDNN in strict fp32 and TF32) against the
// CPU reference (kernels/cpu/conv.h) computed in double. Tolerances, relative with elements near
// zero held to a tenth of the output's scale (see test_cuda_gemm.cpp for why):
//   implicit GEMM and cuDNN fp32: 1e-4 (sums of K*K*C or N*OH*OW float products)
//   cuDNN TF32: 1e-2 (inputs rounded to 10-bit mantissas before the products)
// Shapes cover 'valid' and 'same', odd and even kernels (even 'same' pads asymmetrically:
// implicit GEMM only), one input channel, channel counts that are not multiples of 16, and a
// partial last batch through the cuDNN descriptors planned for a larger one.
#include <gtest/gtest.h>

#include "tests/support/cuda_testing.h"

#ifdef KNOTNET_HAVE_CUDA
#include "kernels/cpu/conv.h"
#include "kernels/cuda/conv_direct.h"
#include "kernels/cuda/conv_implicit_gemm.h"
#ifndef KNOTNET_CUDA_EMU  // the CUDA emulator (tests/cuda_emu) runs knotnet's own kernels only, not cuDNN
#include "engine/cuda_context.h"
#include "kernels/cuda/conv_cudnn.h"
#endif

namespace knotnet {
namespace {

using test::DeviceBuffer;

struct ConvCase {
  int64_t n, h, w, c, k, f;
  bool same;
};

std::string label(const ConvCase& v) {
  return "n" + std::to_string(v.n) + "h" + std::to_string(v.h) + "w" + std::to_string(v.w) + "c" + std::to_string(v.c) +
         "k" + std::to_string(v.k) + "f" + std::to_string(v.f) + (v.same ? "same" : "valid");
}

// Inputs and the double-precision CPU results for one case.
struct Reference {
  cuda::ConvDims d;
  std::vector<float> x, w, b, dy;
  std::vector<double> y, dx, dw, db;

  explicit Reference(const ConvCase& v) {
    d = cuda::ConvDims::make(v.n, v.h, v.w, v.c, v.k, v.f, v.same);
    const auto g = cpu::ConvGeometry::make(v.h, v.w, v.c, v.k, v.f, v.same);
    x = test::random_floats(v.n * v.h * v.w * v.c, 81);
    w = test::random_floats(v.f * v.k * v.k * v.c, 82, -0.2f, 0.2f);
    b = test::random_floats(v.f, 83);
    dy = test::random_floats(v.n * g.oh * g.ow * v.f, 84);
    auto xd = test::convert<double>(x), wd = test::convert<double>(w), bd = test::convert<double>(b),
         dyd = test::convert<double>(dy);
    y.resize(dy.size()), dx.resize(x.size()), dw.resize(w.size()), db.resize(b.size());
    std::vector<double> col(static_cast<size_t>(g.positions() * g.patch())), acc(static_cast<size_t>(v.f));
    cpu::conv_forward(xd.data(), wd.data(), bd.data(), y.data(), v.n, g, col.data());
    cpu::conv_backward(xd.data(), wd.data(), dyd.data(), dx.data(), dw.data(), db.data(), v.n, g, col.data(),
                       acc.data());
  }
};

class CudaConv : public ::testing::TestWithParam<ConvCase> {};

int64_t work_of(const ConvCase& v) { return v.n * v.h * v.w * v.k * v.k * std::max(v.c, v.f) / 16; }

// Every GEMM tile the timing may choose (gemm_tile.h), each direction on its own, as a layer may
// run them; the workspace poisoned (NaN) before each tile's run. The forward and the data
// gradient (no split-K) must come out bit for bit the same in every tile: each element is the
// same chain of fmaf over k. On the CPU emulator the large shapes run in the default tile only
// (each run of the seed's first layer takes ~45 s there); the small ones cover every tile's
// ragged edges, with one or several tiles each way, and split-K (P >= 512).
TEST_P(CudaConv, ImplicitGemmMatchesCpuInEveryTile) {
  KN_REQUIRE_GPU();
  KN_SKIP_IF_LARGE(work_of(GetParam()));
  const Reference r(GetParam());
  DeviceBuffer<float> x(r.x), w(r.w), b(r.b), dy(r.dy);
  const size_t ws = cuda::conv_igemm_workspace_bytes(r.d);
  DeviceBuffer<char> work(static_cast<int64_t>(std::max<size_t>(ws, 1)));
  std::vector<cuda::gemm::TileKind> tiles{cuda::gemm::TileKind::automatic, cuda::gemm::TileKind::small,
                                          cuda::gemm::TileKind::tall, cuda::gemm::TileKind::wide,
                                          cuda::gemm::TileKind::narrow};
  if (cuda::conv_direct_supported(r.d)) tiles.push_back(cuda::gemm::TileKind::direct);
#ifdef KNOTNET_CUDA_EMU
  if (work_of(GetParam()) > 100000) tiles.resize(1);
#endif
  std::vector<float> y_first, dx_first;
  for (auto tile : tiles) {
    SCOPED_TRACE(std::string("tile ") + cuda::gemm::tile_name(tile));
    DeviceBuffer<float> y(static_cast<int64_t>(r.y.size())), dx(static_cast<int64_t>(r.dx.size())),
        dw(static_cast<int64_t>(r.dw.size())), db(static_cast<int64_t>(r.db.size()));
    work.poison();
    cuda::conv_igemm_forward(x.get(), w.get(), b.get(), y.get(), r.d, nullptr, tile);
    cuda::conv_igemm_backward_filter(x.get(), dy.get(), dw.get(), db.get(), r.d, work.get(), ws, nullptr, tile);
    if (tile == cuda::gemm::TileKind::direct) {  // no data gradient
      test::expect_equal(y.download(), y_first, "the direct forward against the first tile's");
      test::expect_close(dw.download(), r.dw, 1e-4, "direct dw", 1e-1);
      test::expect_close(db.download(), r.db, 1e-4, "direct db", 1e-1);
      continue;
    }
    cuda::conv_igemm_backward_data(dy.get(), w.get(), dx.get(), r.d, nullptr, tile);
    const std::vector<float> yg = y.download(), dxg = dx.download();
    test::expect_close(yg, r.y, 1e-4, "igemm forward", 1e-1);
    test::expect_close(dxg, r.dx, 1e-4, "igemm dx", 1e-1);
    test::expect_close(dw.download(), r.dw, 1e-4, "igemm dw", 1e-1);
    test::expect_close(db.download(), r.db, 1e-5, "igemm db");
    if (y_first.empty()) {
      y_first = yg, dx_first = dxg;
      continue;
    }
    test::expect_equal(yg, y_first, "forward against the first tile's");
    test::expect_equal(dxg, dx_first, "dx against the first tile's");
  }
}

// The direct convolution (conv_direct.h) on every shape class it takes: each supported (K, C),
// either padding, a last group of fewer than 4 pixels in a row, rows narrower than 4, F not a
// multiple of 16, and an output that is not 16-byte aligned (scalar stores). Its forward must be
// the implicit GEMM's bit for bit, and so within 1e-4 of the CPU's double.
class CudaConvDirect : public ::testing::TestWithParam<ConvCase> {};

TEST_P(CudaConvDirect, ForwardIsTheImplicitGemmsBitForBit) {
  KN_REQUIRE_GPU();
  const Reference r(GetParam());
  ASSERT_TRUE(cuda::conv_direct_supported(r.d));
  DeviceBuffer<float> x(r.x), w(r.w), b(r.b), y_gemm(static_cast<int64_t>(r.y.size()));
  cuda::conv_igemm_forward(x.get(), w.get(), b.get(), y_gemm.get(), r.d, nullptr);
  const std::vector<float> gemm = y_gemm.download();
  for (int64_t shift : {0, 1}) {
    SCOPED_TRACE(shift ? "output one float past an aligned address" : "aligned output");
    DeviceBuffer<float> y(static_cast<int64_t>(r.y.size()) + shift);
    cuda::conv_igemm_forward(x.get(), w.get(), b.get(), y.get() + shift, r.d, nullptr, cuda::gemm::TileKind::direct);
    std::vector<float> got = y.download();
    got.erase(got.begin(), got.begin() + shift);
    test::expect_equal(got, gemm, "direct forward against the implicit GEMM");
    test::expect_close(got, r.y, 1e-4, "direct forward", 1e-1);
  }
  // Without a bias, as the GEMM's store also allows.
  DeviceBuffer<float> y0(static_cast<int64_t>(r.y.size())), g0(static_cast<int64_t>(r.y.size()));
  cuda::conv_igemm_forward(x.get(), w.get(), nullptr, y0.get(), r.d, nullptr, cuda::gemm::TileKind::direct);
  cuda::conv_igemm_forward(x.get(), w.get(), nullptr, g0.get(), r.d, nullptr);
  test::expect_equal(y0.download(), g0.download(), "direct forward without bias");
}

// The direct weight and bias gradients against the CPU's double, at 1e-4 as the GEMM's weight
// gradient (the GEMM's bias sums in double, held to 1e-5; the direct kernel's, in float per
// thread and block like its weights, came to 1.5e-5 on the largest shape here): with the
// workspace the shape wants, and with room for only 1, 2 or 3 blocks' partials (fewer blocks
// take more pixel groups each, moving on by other strides through the rows and images); with dy
// one float off alignment (scalar loads). The workspace is poisoned before each run.
TEST_P(CudaConvDirect, WeightGradientMatchesCpu) {
  KN_REQUIRE_GPU();
  const Reference r(GetParam());
  ASSERT_TRUE(cuda::conv_direct_supported(r.d));
  const size_t per_block = cuda::conv_direct_filter_min_workspace_bytes(r.d);  // one block's partials
  ASSERT_EQ(per_block, static_cast<size_t>(r.d.f * (r.d.patch() + 1)) * sizeof(float));
  const size_t wanted = cuda::conv_direct_filter_workspace_bytes(r.d);
  ASSERT_GE(wanted, per_block);
  EXPECT_EQ(wanted % per_block, 0u);
  DeviceBuffer<float> x(r.x);
  DeviceBuffer<char> work(static_cast<int64_t>(wanted + 3 * per_block));
  for (int64_t shift : {0, 1}) {
    std::vector<float> dyv(static_cast<size_t>(shift), 7.0f);
    dyv.insert(dyv.end(), r.dy.begin(), r.dy.end());
    DeviceBuffer<float> dy(dyv);
    for (size_t bytes : {wanted, per_block, 2 * per_block + 5, 3 * per_block}) {
      SCOPED_TRACE((shift ? "dy one float past an aligned address, " : "aligned dy, ") + std::to_string(bytes) +
                   " bytes of workspace");
      DeviceBuffer<float> dw(static_cast<int64_t>(r.dw.size())), db(static_cast<int64_t>(r.db.size()));
      work.poison();
      cuda::conv_direct_backward_filter(x.get(), dy.get() + shift, dw.get(), db.get(), r.d, work.get(), bytes, nullptr);
      test::expect_close(dw.download(), r.dw, 1e-4, "direct dw", 1e-1);
      test::expect_close(db.download(), r.db, 1e-4, "direct db", 1e-1);
    }
  }
  EXPECT_THROW(cuda::conv_direct_backward_filter(x.get(), x.get(), x.get(), x.get(), r.d, work.get(), per_block - 4,
                                                 nullptr),
               Error);
}

// Deterministic: the same inputs and workspace size give the same bits (no atomics; the blocks'
// partials are added in order). And an empty batch gives zeros, over poisoned outputs.
TEST(CudaConvDirect, WeightGradientIsReproducibleAndZeroForAnEmptyBatch) {
  KN_REQUIRE_GPU();
  const Reference r(ConvCase{5, 40, 41, 3, 3, 8, false});
  const size_t bytes = cuda::conv_direct_filter_workspace_bytes(r.d);
  DeviceBuffer<float> x(r.x), dy(r.dy);
  DeviceBuffer<char> work(static_cast<int64_t>(bytes));
  std::vector<float> first_dw, first_db;
  for (int run = 0; run < 2; ++run) {
    DeviceBuffer<float> dw(static_cast<int64_t>(r.dw.size())), db(static_cast<int64_t>(r.db.size()));
    work.poison();
    cuda::conv_direct_backward_filter(x.get(), dy.get(), dw.get(), db.get(), r.d, work.get(), bytes, nullptr);
    if (run == 0) {
      first_dw = dw.download(), first_db = db.download();
    } else {
      test::expect_equal(dw.download(), first_dw, "dw of a second run");
      test::expect_equal(db.download(), first_db, "db of a second run");
    }
  }
  const auto empty = r.d.with_batch(0);
  DeviceBuffer<float> dw(static_cast<int64_t>(r.dw.size())), db(static_cast<int64_t>(r.db.size()));
  cuda::conv_direct_backward_filter(x.get(), dy.get(), dw.get(), db.get(), empty, work.get(),
                                    cuda::conv_direct_filter_workspace_bytes(empty), nullptr);
  test::expect_equal(dw.download(), std::vector<float>(r.dw.size(), 0.0f), "dw of an empty batch");
  test::expect_equal(db.download(), std::vector<float>(r.db.size(), 0.0f), "db of an empty batch");
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaConvDirect,
                         ::testing::Values(ConvCase{2, 9, 9, 3, 3, 8, false},    // the first layer's shape, small
                                           ConvCase{3, 7, 10, 3, 3, 20, true},   // rows of 10: a last group of 2
                                           ConvCase{2, 4, 3, 2, 3, 36, true},    // rows narrower than 4
                                           ConvCase{2, 6, 7, 1, 3, 4, false},    // one channel, one group of 4
                                           ConvCase{2, 5, 6, 1, 5, 12, true},    // 5x5, padding 2
                                           ConvCase{1, 6, 7, 4, 1, 16, false},   // 1x1 over 4 channels
                                           ConvCase{2, 3, 5, 2, 1, 28, true},    // 1x1 over 2 channels
                                           ConvCase{1, 5, 9, 1, 1, 8, false},    // 1x1 over 1 channel
                                           ConvCase{5, 40, 41, 3, 3, 8, false}), // several blocks of the gradient
                         [](const ::testing::TestParamInfo<ConvCase>& i) { return label(i.param); });

TEST(CudaConvDirect, RefusesWhatItDoesNotSupportAndTheDataGradient) {
  KN_REQUIRE_GPU();
  EXPECT_FALSE(cuda::conv_direct_supported(cuda::ConvDims::make(1, 8, 8, 3, 3, 6, true)));   // F % 4
  EXPECT_FALSE(cuda::conv_direct_supported(cuda::ConvDims::make(1, 8, 8, 4, 3, 8, true)));   // 36 > 27
  EXPECT_FALSE(cuda::conv_direct_supported(cuda::ConvDims::make(1, 8, 8, 3, 2, 8, true)));   // even K
  EXPECT_FALSE(cuda::conv_direct_supported(cuda::ConvDims::make(1, 8, 8, 64, 3, 96, true))); // seed layer 2
  EXPECT_TRUE(cuda::conv_direct_supported(cuda::ConvDims::make(128, 128, 128, 3, 3, 64, false)));  // the seed's first
  const auto d = cuda::ConvDims::make(1, 8, 8, 3, 2, 8, true);
  DeviceBuffer<float> x(1 * 8 * 8 * 3), w(8 * 2 * 2 * 3), y(1 * 8 * 8 * 8), work(1024);
  EXPECT_THROW(cuda::conv_igemm_forward(x.get(), w.get(), nullptr, y.get(), d, nullptr, cuda::gemm::TileKind::direct),
               Error);
  const auto ok = cuda::ConvDims::make(1, 8, 8, 3, 3, 8, true);
  EXPECT_THROW(cuda::conv_igemm_backward_data(y.get(), w.get(), x.get(), ok, nullptr, cuda::gemm::TileKind::direct),
               Error);
  EXPECT_THROW(cuda::conv_direct_backward_filter(x.get(), y.get(), w.get(), w.get(), d, work.get(), 4096, nullptr),
               Error);
  EXPECT_THROW(cuda::conv_igemm_backward_filter(x.get(), y.get(), w.get(), w.get(), d, work.get(), 4096, nullptr,
                                                cuda::gemm::TileKind::direct),
               Error);
  EXPECT_EQ(cuda::conv_direct_filter_workspace_bytes(d), 0u);
  EXPECT_EQ(cuda::conv_direct_filter_min_workspace_bytes(d), 0u);
}

#ifndef KNOTNET_CUDA_EMU
void run_cudnn(const Reference& r, cuda::ConvMath math, double tol, int64_t batch, const std::string& what) {
  cuda::CudnnConv conv(CudaContext::get().cudnn(), r.d, math, size_t{256} << 20);
  SCOPED_TRACE(what + ": " + conv.describe());
  DeviceBuffer<float> x(r.x), w(r.w), b(r.b), dy(r.dy), y(static_cast<int64_t>(r.y.size())),
      dx(static_cast<int64_t>(r.dx.size())), dw(static_cast<int64_t>(r.dw.size())), db(static_cast<int64_t>(r.db.size()));
  DeviceBuffer<char> work(static_cast<int64_t>(std::max<size_t>(conv.workspace_bytes(), 1)));
  const cudaStream_t s = CudaContext::get().compute();
  conv.forward(x.get(), w.get(), b.get(), y.get(), batch, work.get(), conv.workspace_bytes(), s);
  conv.backward(x.get(), w.get(), dy.get(), dx.get(), dw.get(), db.get(), batch, work.get(), conv.workspace_bytes(), s);
  KN_CUDA_CHECK(cudaStreamSynchronize(s));
  if (batch == r.d.n) {
    test::expect_close(y.download(), r.y, tol, what + " forward", 1e-1);
    test::expect_close(dx.download(), r.dx, tol, what + " dx", 1e-1);
    test::expect_close(dw.download(), r.dw, tol, what + " dw", 1e-1);
    test::expect_close(db.download(), r.db, 1e-5, what + " db");
  } else {
    // A partial batch: only the first `batch` samples' y and dx are compared (each depends on
    // its own sample only); the weight gradients cover fewer samples and are not compared here.
    const int64_t per_y = static_cast<int64_t>(r.y.size()) / r.d.n, per_x = static_cast<int64_t>(r.x.size()) / r.d.n;
    auto yg = y.download(), dxg = dx.download();
    test::expect_close(std::vector<float>(yg.begin(), yg.begin() + batch * per_y),
                       std::vector<double>(r.y.begin(), r.y.begin() + batch * per_y), tol, what + " forward", 1e-1);
    test::expect_close(std::vector<float>(dxg.begin(), dxg.begin() + batch * per_x),
                       std::vector<double>(r.dx.begin(), r.dx.begin() + batch * per_x), tol, what + " dx", 1e-1);
    // The rest of y and dx was never written: still NaN.
    EXPECT_TRUE(std::isnan(yg.back())) << what << ": wrote past the partial batch";
  }
}

TEST_P(CudaConv, CudnnFp32MatchesCpu) {
  KN_REQUIRE_GPU();
  const ConvCase v = GetParam();
  KN_SKIP_IF_LARGE(work_of(v));
  const Reference r(v);
  if (!cuda::CudnnConv::supported(r.d)) GTEST_SKIP() << "asymmetric padding: implicit GEMM only";
  run_cudnn(r, cuda::ConvMath::fp32, 1e-4, v.n, "cudnn fp32");
}

TEST_P(CudaConv, CudnnTf32IsCloseToCpu) {
  KN_REQUIRE_GPU();
  const ConvCase v = GetParam();
  KN_SKIP_IF_LARGE(work_of(v));
  const Reference r(v);
  if (!cuda::CudnnConv::supported(r.d)) GTEST_SKIP() << "asymmetric padding: implicit GEMM only";
  run_cudnn(r, cuda::ConvMath::tf32, 1e-2, v.n, "cudnn tf32");
}

TEST_P(CudaConv, CudnnRunsAPartialBatch) {
  KN_REQUIRE_GPU();
  const ConvCase v = GetParam();
  KN_SKIP_IF_LARGE(work_of(v));
  if (v.n < 2) GTEST_SKIP() << "needs a batch of at least 2";
  const Reference r(v);
  if (!cuda::CudnnConv::supported(r.d)) GTEST_SKIP() << "asymmetric padding: implicit GEMM only";
  run_cudnn(r, cuda::ConvMath::fp32, 1e-4, v.n - 1, "cudnn fp32, partial batch");
}

#endif  // KNOTNET_CUDA_EMU

INSTANTIATE_TEST_SUITE_P(Shapes, CudaConv,
                         ::testing::Values(ConvCase{2, 9, 9, 3, 3, 8, false},    // the first layer's shape, small
                                           ConvCase{3, 8, 7, 5, 3, 16, true},    // odd width, same
                                           ConvCase{2, 6, 6, 4, 2, 5, true},     // even kernel, asymmetric same
                                           ConvCase{2, 7, 5, 6, 4, 3, false},    // even kernel, valid
                                           ConvCase{1, 5, 5, 1, 1, 1, false},    // 1x1
                                           ConvCase{2, 5, 6, 3, 3, 130, true},   // two column tiles of 128
                                           ConvCase{1, 24, 24, 2, 2, 3, false},  // P = 529: split-K in every tile
                                           ConvCase{4, 31, 31, 64, 3, 96, true}, // seed layer 2, small batch
                                           ConvCase{2, 31, 31, 96, 3, 128, false},
                                           ConvCase{8, 128, 128, 3, 3, 64, false}),  // seed layer 1: long split-K
                         [](const ::testing::TestParamInfo<ConvCase>& i) { return label(i.param); });

#ifndef KNOTNET_CUDA_EMU
TEST(CudaConvCudnn, RefusesAsymmetricPaddingWithAMessage) {
  KN_REQUIRE_GPU();
  const auto d = cuda::ConvDims::make(1, 6, 6, 2, 2, 3, true);
  EXPECT_FALSE(cuda::CudnnConv::supported(d));
  try {
    cuda::CudnnConv conv(CudaContext::get().cudnn(), d, cuda::ConvMath::fp32, 0);
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("implicit-GEMM"), std::string::npos) << e.what();
  }
}

#endif  // KNOTNET_CUDA_EMU

}  // namespace
}  // namespace knotnet

#else
TEST(CudaConv, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }
#endif
