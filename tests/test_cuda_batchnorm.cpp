// GPU batch-norm against the CPU reference (in double), and the fused BN + ReLU (+ max-pool)
// kernels against the unfused GPU chain. Inputs have a non-zero mean (3 + U(-2, 2)) so the
// variance computation is exercised against cancellation; outputs and the saved statistics are
// poisoned first. Tolerances: forward outputs, saved statistics and running statistics 1e-5
// relative (reductions in double, one float rounding); backward dx, dgamma, dbeta 1e-4
// (sums over M of products). Fused vs unfused: same float values by construction, so the
// forward must match exactly and the backward to 1e-6.
#include <gtest/gtest.h>

#include "tests/support/cuda_testing.h"

#ifdef KNOTNET_HAVE_CUDA
#include "kernels/cpu/batchnorm.h"
#include "kernels/cuda/batchnorm.h"
#include "kernels/cuda/fused_bn_relu_pool.h"
#include "kernels/cuda/maxpool.h"
#include "kernels/cuda/relu.h"

namespace knotnet {
namespace {

using test::DeviceBuffer;

struct BnCase {
  int64_t n, h, w, c;
  int64_t m() const { return n * h * w; }
};

std::string name(const BnCase& k) {
  return "(" + std::to_string(k.n) + ", " + std::to_string(k.h) + ", " + std::to_string(k.w) + ", " +
         std::to_string(k.c) + ")";
}

class CudaBatchNorm : public ::testing::TestWithParam<BnCase> {};

// The per-channel parameters and statistics of one test.
struct Params {
  std::vector<float> gamma, beta, mm, mv;
  explicit Params(int64_t c) {
    gamma = test::random_floats(c, 5, 0.5f, 1.5f);
    beta = test::random_floats(c, 6, -0.5f, 0.5f);
    mm = test::random_floats(c, 7, -0.1f, 0.1f);
    mv = test::random_floats(c, 8, 0.5f, 2.0f);
  }
};

TEST_P(CudaBatchNorm, TrainForwardAndBackwardMatchCpu) {
  KN_REQUIRE_GPU();
  const BnCase k = GetParam();
  KN_SKIP_IF_LARGE(k.m() * k.c);
  const int64_t m = k.m(), c = k.c;
  auto x = test::random_floats(m * c, 1, 1.0f, 5.0f);
  auto dy = test::random_floats(m * c, 2);
  Params p(c);
  const double momentum = 0.99, eps = 1e-3;

  // CPU reference in double.
  auto xd = test::convert<double>(x), dyd = test::convert<double>(dy);
  auto gd = test::convert<double>(p.gamma), bd = test::convert<double>(p.beta);
  auto mmd = test::convert<double>(p.mm), mvd = test::convert<double>(p.mv);
  std::vector<double> yd(xd.size()), smean(c), sinv(c), acc(2 * c), dxd(xd.size()), dgd(c), dbd(c);
  cpu::batchnorm_forward_train(xd.data(), yd.data(), m, c, gd.data(), bd.data(), mmd.data(), mvd.data(), momentum,
                               eps, smean.data(), sinv.data(), acc.data());
  cpu::batchnorm_backward_train(xd.data(), dyd.data(), dxd.data(), m, c, gd.data(), smean.data(), sinv.data(),
                                dgd.data(), dbd.data(), acc.data());

  DeviceBuffer<float> gx(x), gdy(dy), gy(m * c), ggamma(p.gamma), gbeta(p.beta), gmm(p.mm), gmv(p.mv), gsm(c), gsi(c),
      gdx(m * c), gdg(c), gdb(c);
  DeviceBuffer<double> work(cuda::batchnorm_workspace(m, c));
  cuda::batchnorm_forward_train(gx.get(), gy.get(), m, c, ggamma.get(), gbeta.get(), gmm.get(), gmv.get(), momentum,
                                eps, gsm.get(), gsi.get(), work.get(), nullptr);
  test::expect_close(gy.download(), yd, 1e-5, "bn forward " + name(k));
  test::expect_close(gsm.download(), smean, 1e-5, "bn saved mean " + name(k));
  test::expect_close(gsi.download(), sinv, 1e-5, "bn saved inv_std " + name(k));
  test::expect_close(gmm.download(), mmd, 1e-5, "bn moving mean " + name(k));
  test::expect_close(gmv.download(), mvd, 1e-5, "bn moving variance " + name(k));

  work.poison();
  cuda::batchnorm_backward_train(gx.get(), gdy.get(), gdx.get(), m, c, ggamma.get(), gsm.get(), gsi.get(), gdg.get(),
                                 gdb.get(), work.get(), nullptr);
  test::expect_close(gdx.download(), dxd, 1e-4, "bn dx " + name(k));
  test::expect_close(gdg.download(), dgd, 1e-4, "bn dgamma " + name(k));
  test::expect_close(gdb.download(), dbd, 1e-4, "bn dbeta " + name(k));
}

TEST_P(CudaBatchNorm, InferForwardAndBackwardMatchCpu) {
  KN_REQUIRE_GPU();
  const BnCase k = GetParam();
  KN_SKIP_IF_LARGE(k.m() * k.c);
  const int64_t m = k.m(), c = k.c;
  auto x = test::random_floats(m * c, 3, -2.0f, 2.0f);
  auto dy = test::random_floats(m * c, 4);
  Params p(c);
  const double eps = 1e-3;
  auto xd = test::convert<double>(x), dyd = test::convert<double>(dy);
  auto gd = test::convert<double>(p.gamma), bd = test::convert<double>(p.beta);
  auto mmd = test::convert<double>(p.mm), mvd = test::convert<double>(p.mv);
  std::vector<double> yd(xd.size()), acc(2 * c), dxd(xd.size()), dgd(c), dbd(c);
  cpu::batchnorm_forward_infer(xd.data(), yd.data(), m, c, gd.data(), bd.data(), mmd.data(), mvd.data(), eps,
                               acc.data());
  cpu::batchnorm_backward_infer(xd.data(), dyd.data(), dxd.data(), m, c, gd.data(), mmd.data(), mvd.data(), eps,
                                dgd.data(), dbd.data(), acc.data());
  DeviceBuffer<float> gx(x), gdy(dy), gy(m * c), ggamma(p.gamma), gbeta(p.beta), gmm(p.mm), gmv(p.mv), gdx(m * c),
      gdg(c), gdb(c);
  DeviceBuffer<double> work(cuda::batchnorm_workspace(m, c));
  cuda::batchnorm_forward_infer(gx.get(), gy.get(), m, c, ggamma.get(), gbeta.get(), gmm.get(), gmv.get(), eps,
                                work.get(), nullptr);
  cuda::batchnorm_backward_infer(gx.get(), gdy.get(), gdx.get(), m, c, ggamma.get(), gmm.get(), gmv.get(), eps,
                                 gdg.get(), gdb.get(), work.get(), nullptr);
  test::expect_close(gy.download(), yd, 1e-5, "bn infer forward " + name(k));
  test::expect_close(gdx.download(), dxd, 1e-5, "bn infer dx " + name(k));
  test::expect_close(gdg.download(), dgd, 1e-4, "bn infer dgamma " + name(k));
  test::expect_close(gdb.download(), dbd, 1e-4, "bn infer dbeta " + name(k));
  // The running statistics are inputs only in inference.
  test::expect_equal(gmm.download(), p.mm, "moving mean untouched");
  test::expect_equal(gmv.download(), p.mv, "moving variance untouched");
}

// The unfused GPU chain BN -> ReLU -> maxpool (train mode) against the fused kernels.
TEST_P(CudaBatchNorm, FusedBnReluPoolMatchesUnfusedChain) {
  KN_REQUIRE_GPU();
  const BnCase k = GetParam();
  KN_SKIP_IF_LARGE(k.m() * k.c);
  const int64_t m = k.m(), c = k.c, oh = k.h / 2, ow = k.w / 2, pooled = k.n * oh * ow * c;
  auto x = test::random_floats(m * c, 9, -1.0f, 3.0f);
  auto dyp = test::random_floats(pooled, 10);
  Params p(c);
  DeviceBuffer<float> gx(x), ggamma(p.gamma), gbeta(p.beta), gdyp(dyp);
  DeviceBuffer<double> work(cuda::batchnorm_workspace(m, c));

  // Unfused.
  DeviceBuffer<float> mm1(p.mm), mv1(p.mv), sm1(c), si1(c), bn_out(m * c), relu_out(m * c), y1(pooled), drelu(m * c),
      dbn(m * c), dx1(m * c), dg1(c), db1(c);
  DeviceBuffer<uint8_t> am1(pooled);
  cuda::batchnorm_forward_train(gx.get(), bn_out.get(), m, c, ggamma.get(), gbeta.get(), mm1.get(), mv1.get(), 0.99,
                                1e-3, sm1.get(), si1.get(), work.get(), nullptr);
  cuda::relu_forward(bn_out.get(), relu_out.get(), m * c, nullptr);
  cuda::maxpool2_forward(relu_out.get(), y1.get(), am1.get(), k.n, k.h, k.w, c, nullptr);
  cuda::maxpool2_backward(gdyp.get(), am1.get(), drelu.get(), k.n, k.h, k.w, c, nullptr);
  cuda::relu_backward(relu_out.get(), drelu.get(), dbn.get(), m * c, nullptr);
  cuda::batchnorm_backward_train(gx.get(), dbn.get(), dx1.get(), m, c, ggamma.get(), sm1.get(), si1.get(), dg1.get(),
                                 db1.get(), work.get(), nullptr);

  // Fused.
  DeviceBuffer<float> mm2(p.mm), mv2(p.mv), sm2(c), si2(c), y2(pooled), dx2(m * c), dg2(c), db2(c);
  DeviceBuffer<uint8_t> am2(pooled);
  cuda::BnParams bp;
  bp.gamma = ggamma.get(), bp.beta = gbeta.get(), bp.moving_mean = mm2.get(), bp.moving_var = mv2.get();
  bp.save_mean = sm2.get(), bp.save_inv_std = si2.get(), bp.train = true;
  work.poison();
  cuda::bn_relu_pool_forward(gx.get(), y2.get(), am2.get(), k.n, k.h, k.w, c, bp, work.get(), nullptr);
  work.poison();
  cuda::bn_relu_pool_backward(gx.get(), y2.get(), am2.get(), gdyp.get(), dx2.get(), k.n, k.h, k.w, c, ggamma.get(),
                              sm2.get(), si2.get(), dg2.get(), db2.get(), work.get(), nullptr);

  test::expect_equal(y2.download(), y1.download(), "fused pooled output " + name(k));
  test::expect_equal(am2.download(), am1.download(), "fused argmax " + name(k));
  test::expect_equal(sm2.download(), sm1.download(), "fused saved mean " + name(k));
  test::expect_equal(mv2.download(), mv1.download(), "fused moving variance " + name(k));
  test::expect_close(dx2.download(), dx1.download(), 1e-6, "fused dx " + name(k));
  test::expect_close(dg2.download(), dg1.download(), 1e-6, "fused dgamma " + name(k));
  test::expect_close(db2.download(), db1.download(), 1e-6, "fused dbeta " + name(k));

  // Inference: the fused forward with the running statistics against the unfused chain.
  bp.train = false;
  cuda::bn_relu_pool_forward(gx.get(), y2.get(), am2.get(), k.n, k.h, k.w, c, bp, work.get(), nullptr);
  cuda::batchnorm_forward_infer(gx.get(), bn_out.get(), m, c, ggamma.get(), gbeta.get(), mm2.get(), mv2.get(), 1e-3,
                                work.get(), nullptr);
  cuda::relu_forward(bn_out.get(), relu_out.get(), m * c, nullptr);
  cuda::maxpool2_forward(relu_out.get(), y1.get(), am1.get(), k.n, k.h, k.w, c, nullptr);
  test::expect_equal(y2.download(), y1.download(), "fused inference output " + name(k));
}

TEST_P(CudaBatchNorm, FusedBnReluMatchesUnfusedChain) {
  KN_REQUIRE_GPU();
  const BnCase k = GetParam();
  KN_SKIP_IF_LARGE(k.m() * k.c);
  const int64_t m = k.m(), c = k.c;
  auto x = test::random_floats(m * c, 12, -1.0f, 3.0f);
  auto dy = test::random_floats(m * c, 13);
  Params p(c);
  DeviceBuffer<float> gx(x), ggamma(p.gamma), gbeta(p.beta), gdy(dy);
  DeviceBuffer<double> work(cuda::batchnorm_workspace(m, c));
  DeviceBuffer<float> mm1(p.mm), mv1(p.mv), sm1(c), si1(c), bn_out(m * c), y1(m * c), dbn(m * c), dx1(m * c), dg1(c),
      db1(c);
  cuda::batchnorm_forward_train(gx.get(), bn_out.get(), m, c, ggamma.get(), gbeta.get(), mm1.get(), mv1.get(), 0.99,
                                1e-3, sm1.get(), si1.get(), work.get(), nullptr);
  cuda::relu_forward(bn_out.get(), y1.get(), m * c, nullptr);
  cuda::relu_backward(y1.get(), gdy.get(), dbn.get(), m * c, nullptr);
  cuda::batchnorm_backward_train(gx.get(), dbn.get(), dx1.get(), m, c, ggamma.get(), sm1.get(), si1.get(), dg1.get(),
                                 db1.get(), work.get(), nullptr);
  DeviceBuffer<float> mm2(p.mm), mv2(p.mv), sm2(c), si2(c), y2(m * c), dx2(m * c), dg2(c), db2(c);
  cuda::BnParams bp;
  bp.gamma = ggamma.get(), bp.beta = gbeta.get(), bp.moving_mean = mm2.get(), bp.moving_var = mv2.get();
  bp.save_mean = sm2.get(), bp.save_inv_std = si2.get(), bp.train = true;
  cuda::bn_relu_forward(gx.get(), y2.get(), m, c, bp, work.get(), nullptr);
  cuda::bn_relu_backward(gx.get(), y2.get(), gdy.get(), dx2.get(), m, c, ggamma.get(), sm2.get(), si2.get(), dg2.get(),
                         db2.get(), work.get(), nullptr);
  test::expect_equal(y2.download(), y1.download(), "fused bn+relu output " + name(k));
  test::expect_close(dx2.download(), dx1.download(), 1e-6, "fused bn+relu dx " + name(k));
  test::expect_close(dg2.download(), dg1.download(), 1e-6, "fused bn+relu dgamma " + name(k));
  test::expect_close(db2.download(), db1.download(), 1e-6, "fused bn+relu dbeta " + name(k));
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaBatchNorm,
                         ::testing::Values(BnCase{1, 1, 1, 1},      // one value: variance 0
                                           BnCase{2, 3, 3, 3},      // odd pool, few channels
                                           BnCase{5, 7, 9, 64},     // odd spatial sizes
                                           BnCase{3, 8, 6, 33},     // channels not a multiple of 32
                                           BnCase{7, 1, 1, 128},    // dense features (N, F)
                                           BnCase{16, 63, 63, 96},  // a seed-model-like layer, M = 63,504
                                           BnCase{8, 126, 126, 64},
                                           BnCase{4, 6, 7, 2},     // odd width only, 2 channels at a time
                                           BnCase{3, 9, 8, 6},     // odd height only
                                           BnCase{600, 3, 2, 4},   // the sums' row step spans many images
                                           BnCase{2, 1, 6, 4}),    // no pooling window: every g is 0
                         [](const ::testing::TestParamInfo<BnCase>& i) {
                           return "n" + std::to_string(i.param.n) + "h" + std::to_string(i.param.h) + "w" +
                                  std::to_string(i.param.w) + "c" + std::to_string(i.param.c);
                         });

}  // namespace
}  // namespace knotnet

#else
TEST(CudaBatchNorm, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }
#endif
