// Our tiled SGEMM and the GPU dense layer against the CPU reference computed in double.
// Tolerance: 1e-4 relative (sums of up to 25,088 float products), with elements near zero held
// to 1e-5 of the output's largest magnitude (1e-4 of a tenth of it): float accumulation over K
// terms errs by about 1e-6 of that scale whatever the element, so a purely relative bound would
// fail on elements that happen to cancel to near zero. C is poisoned with NaN before a
// beta = 0 product, which must therefore never read it; split-K is exercised by the
// (128, 128, 25088) shape of the seed model's dense layer.
#include <gtest/gtest.h>

#include "tests/support/cuda_testing.h"

#ifdef KNOTNET_HAVE_CUDA
#include "kernels/cpu/dense.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cuda/dense_sgemm.h"

namespace knotnet {
namespace {

using test::DeviceBuffer;

struct GemmCase {
  int64_t m, n, k;
  bool ta, tb;
};

class CudaSgemm : public ::testing::TestWithParam<GemmCase> {};

TEST_P(CudaSgemm, MatchesCpuDouble) {
  KN_REQUIRE_GPU();
  const GemmCase g = GetParam();
  KN_SKIP_IF_LARGE(g.m * g.n * g.k / 64);
  auto a = test::random_floats(g.m * g.k, 61);
  auto b = test::random_floats(g.k * g.n, 62);
  auto c0 = test::random_floats(g.m * g.n, 63);
  auto bias = test::random_floats(g.n, 64);
  const int64_t lda = g.ta ? g.m : g.k, ldb = g.tb ? g.k : g.n;
  DeviceBuffer<float> ga(a), gb(b), gc(g.m * g.n), gbias(bias);
  DeviceBuffer<float> work(std::max<int64_t>(cuda::sgemm_workspace(g.m, g.n, g.k), 1));

  for (bool with_split : {false, true}) {
    // beta = 0, no bias: C is NaN beforehand and must not be read.
    std::vector<double> ref(static_cast<size_t>(g.m * g.n), 0.0);
    auto ad = test::convert<double>(a), bd = test::convert<double>(b);
    cpu::gemm(g.ta, g.tb, g.m, g.n, g.k, 1.0, ad.data(), lda, bd.data(), ldb, 0.0, ref.data(), g.n);
    gc.poison();
    cuda::sgemm(g.ta, g.tb, g.m, g.n, g.k, 1.0f, ga.get(), lda, gb.get(), ldb, 0.0f, gc.get(), g.n, nullptr,
                with_split ? work.get() : nullptr, with_split ? work.size() : 0, nullptr);
    test::expect_close(gc.download(), ref, 1e-4, std::string("sgemm beta 0") + (with_split ? " split-K" : ""), 1e-1);

    // alpha 0.5, beta 0.25, with bias.
    auto cd = test::convert<double>(c0);
    cpu::gemm(g.ta, g.tb, g.m, g.n, g.k, 0.5, ad.data(), lda, bd.data(), ldb, 0.25, cd.data(), g.n);
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) cd[static_cast<size_t>(i * g.n + j)] += bias[static_cast<size_t>(j)];
    gc.upload(c0);
    cuda::sgemm(g.ta, g.tb, g.m, g.n, g.k, 0.5f, ga.get(), lda, gb.get(), ldb, 0.25f, gc.get(), g.n, gbias.get(),
                with_split ? work.get() : nullptr, with_split ? work.size() : 0, nullptr);
    test::expect_close(gc.download(), cd, 1e-4, std::string("sgemm alpha beta bias") + (with_split ? " split-K" : ""),
                       1e-1);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaSgemm,
                         ::testing::Values(GemmCase{1, 1, 1, false, false}, GemmCase{65, 63, 17, false, false},
                                           GemmCase{65, 63, 17, true, false}, GemmCase{65, 63, 17, false, true},
                                           GemmCase{65, 63, 17, true, true}, GemmCase{257, 129, 1000, false, true},
                                           GemmCase{128, 128, 25088, false, false},
                                           GemmCase{128, 128, 25088, true, true}, GemmCase{3, 5, 0, false, false}));

struct DenseCase {
  int64_t n, in, out;
};

class CudaDense : public ::testing::TestWithParam<DenseCase> {};

TEST_P(CudaDense, ForwardAndBackwardMatchCpuDouble) {
  KN_REQUIRE_GPU();
  const DenseCase d = GetParam();
  KN_SKIP_IF_LARGE(d.n * d.in * d.out / 64);
  auto x = test::random_floats(d.n * d.in, 71);
  auto w = test::random_floats(d.in * d.out, 72, -0.05f, 0.05f);
  auto b = test::random_floats(d.out, 73);
  auto dy = test::random_floats(d.n * d.out, 74);
  auto xd = test::convert<double>(x), wd = test::convert<double>(w), bd = test::convert<double>(b),
       dyd = test::convert<double>(dy);
  std::vector<double> y(static_cast<size_t>(d.n * d.out)), dx(static_cast<size_t>(d.n * d.in)),
      dw(static_cast<size_t>(d.in * d.out)), db(static_cast<size_t>(d.out)), acc(static_cast<size_t>(d.out));
  cpu::dense_forward(xd.data(), wd.data(), bd.data(), y.data(), d.n, d.in, d.out);
  cpu::dense_backward(xd.data(), wd.data(), dyd.data(), dx.data(), dw.data(), db.data(), d.n, d.in, d.out, acc.data());

  DeviceBuffer<float> gx(x), gw(w), gb(b), gdy(dy), gy(d.n * d.out), gdx(d.n * d.in), gdw(d.in * d.out), gdb(d.out);
  const size_t ws = cuda::dense_workspace_bytes(d.n, d.in, d.out);
  DeviceBuffer<char> work(static_cast<int64_t>(std::max<size_t>(ws, 1)));
  cuda::dense_forward(gx.get(), gw.get(), gb.get(), gy.get(), d.n, d.in, d.out, work.get(), ws, nullptr);
  cuda::dense_backward(gx.get(), gw.get(), gdy.get(), gdx.get(), gdw.get(), gdb.get(), d.n, d.in, d.out, work.get(),
                       ws, nullptr);
  test::expect_close(gy.download(), y, 1e-4, "dense forward", 1e-1);
  test::expect_close(gdx.download(), dx, 1e-4, "dense dx", 1e-1);
  test::expect_close(gdw.download(), dw, 1e-4, "dense dw", 1e-1);
  test::expect_close(gdb.download(), db, 1e-5, "dense db");
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaDense,
                         ::testing::Values(DenseCase{1, 1, 1}, DenseCase{7, 33, 3}, DenseCase{50, 128, 3},
                                           DenseCase{128, 25088, 128}, DenseCase{37, 1000, 65}));

}  // namespace
}  // namespace knotnet

#else
TEST(CudaSgemm, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }
#endif
