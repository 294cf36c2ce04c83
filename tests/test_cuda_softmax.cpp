// GPU softmax and cross-entropy against the CPU reference (kernels/cpu/softmax_xent.h).
// Tolerances: probabilities and dlogits 1e-6 relative (the same float roundings; only the
// double exp may differ by an ulp), the loss sum 1e-6 relative, the correct count exact.
// Stability: logits of 1e4 must give finite probabilities and losses.
#include <gtest/gtest.h>

#include "tests/support/cuda_testing.h"

#ifdef KNOTNET_HAVE_CUDA
#include "kernels/cpu/softmax_xent.h"
#include "kernels/cuda/softmax_xent.h"

namespace knotnet {
namespace {

using test::DeviceBuffer;

struct XentCase {
  int64_t n, k;
  float scale;  // logits are U(-1, 1) * scale
};

class CudaSoftmaxXent : public ::testing::TestWithParam<XentCase> {};

std::vector<float> one_hot_targets(int64_t n, int64_t k, uint64_t seed) {
  std::vector<float> t(static_cast<size_t>(n * k), 0.0f);
  auto u = test::random_values(n, seed, 0.0, static_cast<double>(k));
  for (int64_t i = 0; i < n; ++i) t[static_cast<size_t>(i * k + static_cast<int64_t>(u[i]) % k)] = 1.0f;
  return t;
}

TEST_P(CudaSoftmaxXent, FusedAndSeparateMatchCpu) {
  KN_REQUIRE_GPU();
  const XentCase c = GetParam();
  auto z = test::random_floats(c.n * c.k, 51, -c.scale, c.scale);
  auto t = one_hot_targets(c.n, c.k, 52);
  std::vector<float> p_ref(z.size()), d_ref(z.size());
  cpu::softmax_forward(z.data(), p_ref.data(), c.n, c.k);
  const cpu::XentSums s = cpu::softmax_xent_targets(p_ref.data(), t.data(), d_ref.data(), c.n, c.k);

  DeviceBuffer<float> gz(z), gt(t), gp(c.n * c.k), gd(c.n * c.k);
  DeviceBuffer<double> out(2);
  cuda::softmax_xent(gz.get(), gt.get(), gp.get(), gd.get(), c.n, c.k, out.get(), nullptr);
  test::expect_close(gp.download(), p_ref, 1e-6, "fused probabilities");
  test::expect_close(gd.download(), d_ref, 1e-6, "fused dlogits");
  auto sums = out.download();
  EXPECT_NEAR(sums[0], s.loss_sum, 1e-6 * std::max(1.0, std::fabs(s.loss_sum))) << "loss sum";
  EXPECT_EQ(static_cast<int64_t>(sums[1]), s.correct) << "correct count";
  EXPECT_TRUE(std::isfinite(sums[0]));

  gp.poison(), gd.poison(), out.poison();
  cuda::softmax_forward(gz.get(), gp.get(), c.n, c.k, nullptr);
  cuda::xent_from_probs(gp.get(), gt.get(), gd.get(), c.n, c.k, out.get(), nullptr);
  test::expect_close(gp.download(), p_ref, 1e-6, "probabilities");
  test::expect_close(gd.download(), d_ref, 1e-6, "dlogits");
  sums = out.download();
  EXPECT_NEAR(sums[0], s.loss_sum, 1e-6 * std::max(1.0, std::fabs(s.loss_sum)));
  EXPECT_EQ(static_cast<int64_t>(sums[1]), s.correct);

  // Without a gradient buffer (evaluation).
  out.poison();
  cuda::xent_from_probs(gp.get(), gt.get(), nullptr, c.n, c.k, out.get(), nullptr);
  EXPECT_NEAR(out.download()[0], s.loss_sum, 1e-6 * std::max(1.0, std::fabs(s.loss_sum)));
}

// A diverged model's NaN must reach the loss, as on the CPU, or training would go on reporting
// a finite loss over NaN weights (the trainer stops on a non-finite loss).
TEST(CudaXent, ANanProbabilityGivesANanLossAsOnTheCpu) {
  KN_REQUIRE_GPU();
  const int64_t n = 4, k = 3;
  auto z = test::random_floats(n * k, 53, -2.0, 2.0);
  std::vector<float> p(z.size());
  cpu::softmax_forward(z.data(), p.data(), n, k);
  auto t = one_hot_targets(n, k, 54);
  for (int64_t j = 0; j < k; ++j) p[static_cast<size_t>(2 * k + j)] = std::nanf("");  // row 2
  const cpu::XentSums s = cpu::softmax_xent_targets(p.data(), t.data(), static_cast<float*>(nullptr), n, k);
  ASSERT_TRUE(std::isnan(s.loss_sum)) << "the CPU reference keeps the NaN";
  DeviceBuffer<float> gp(p), gt(t);
  DeviceBuffer<double> out(2);
  cuda::xent_from_probs(gp.get(), gt.get(), nullptr, n, k, out.get(), nullptr);
  EXPECT_TRUE(std::isnan(out.download()[0]));
}

INSTANTIATE_TEST_SUITE_P(Cases, CudaSoftmaxXent,
                         ::testing::Values(XentCase{1, 2, 1.0f}, XentCase{50, 3, 3.0f}, XentCase{128, 3, 1.0f},
                                           XentCase{257, 10, 5.0f}, XentCase{1000, 3, 1e4f}));

}  // namespace
}  // namespace knotnet

#else
TEST(CudaSoftmaxXent, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }
#endif
