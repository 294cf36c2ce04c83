// The fused GPU optimizer steps against the CPU reference (kernels/cpu/optim.h) in float, on a
// flat buffer of odd length, over several steps. Tolerance: 1e-5 relative per element (nvcc
// may contract a*b+c into one FMA where the CPU rounds twice; after five steps the parameters
// still agree to a few float roundings).
#include <gtest/gtest.h>

#include <cmath>

#include "tests/support/cuda_testing.h"

#ifdef KNOTNET_HAVE_CUDA
#include "kernels/cpu/optim.h"
#include "kernels/cuda/optim.h"

namespace knotnet {
namespace {

using test::DeviceBuffer;

constexpr int64_t kN = 100003;  // odd, several blocks' worth
constexpr int kSteps = 5;
constexpr double kTol = 1e-5;

struct Buffers {
  std::vector<float> p, s0, s1;
  std::vector<std::vector<float>> grads;
  explicit Buffers(float s0_init = 0.0f) {
    p = test::random_floats(kN, 1, -0.5f, 0.5f);
    s0.assign(kN, s0_init);
    s1.assign(kN, 0.0f);
    for (int t = 0; t < kSteps; ++t) grads.push_back(test::random_floats(kN, 100 + static_cast<uint64_t>(t)));
  }
};

TEST(CudaOptim, SgdMatchesCpu) {
  KN_REQUIRE_GPU();
  Buffers b;
  DeviceBuffer<float> p(b.p), g(kN);
  for (int t = 0; t < kSteps; ++t) {
    cpu::sgd_step(b.p.data(), b.grads[t].data(), kN, 0.01);
    g.upload(b.grads[t]);
    cuda::sgd_step(p.get(), g.get(), kN, 0.01, nullptr);
  }
  test::expect_close(p.download(), b.p, kTol, "sgd parameters");
}

TEST(CudaOptim, SgdMomentumAndNesterovMatchCpu) {
  KN_REQUIRE_GPU();
  for (bool nesterov : {false, true}) {
    Buffers b;
    DeviceBuffer<float> p(b.p), g(kN), v(b.s0);
    for (int t = 0; t < kSteps; ++t) {
      cpu::sgd_momentum_step(b.p.data(), b.grads[t].data(), b.s0.data(), kN, 0.01, 0.9, nesterov);
      g.upload(b.grads[t]);
      cuda::sgd_momentum_step(p.get(), g.get(), v.get(), kN, 0.01, 0.9, nesterov, nullptr);
    }
    test::expect_close(p.download(), b.p, kTol, nesterov ? "nesterov parameters" : "momentum parameters");
    test::expect_close(v.download(), b.s0, kTol, "velocity");
  }
}

TEST(CudaOptim, AdagradMatchesCpu) {
  KN_REQUIRE_GPU();
  Buffers b(0.1f);
  DeviceBuffer<float> p(b.p), g(kN), acc(b.s0);
  for (int t = 0; t < kSteps; ++t) {
    cpu::adagrad_step(b.p.data(), b.grads[t].data(), b.s0.data(), kN, 0.01, 1e-7);
    g.upload(b.grads[t]);
    cuda::adagrad_step(p.get(), g.get(), acc.get(), kN, 0.01, 1e-7, nullptr);
  }
  test::expect_close(p.download(), b.p, kTol, "adagrad parameters");
  test::expect_close(acc.download(), b.s0, kTol, "adagrad accumulators");
}

TEST(CudaOptim, RmspropWithAndWithoutMomentumMatchesCpu) {
  KN_REQUIRE_GPU();
  for (double momentum : {0.0, 0.9}) {
    Buffers b;
    DeviceBuffer<float> p(b.p), g(kN), ms(b.s0), mom(b.s1);
    for (int t = 0; t < kSteps; ++t) {
      cpu::rmsprop_step(b.p.data(), b.grads[t].data(), b.s0.data(), momentum > 0 ? b.s1.data() : nullptr, kN, 0.001,
                        0.9, momentum, 1e-7);
      g.upload(b.grads[t]);
      cuda::rmsprop_step(p.get(), g.get(), ms.get(), momentum > 0 ? mom.get() : nullptr, kN, 0.001, 0.9, momentum,
                         1e-7, nullptr);
    }
    test::expect_close(p.download(), b.p, kTol, "rmsprop parameters, momentum " + std::to_string(momentum));
  }
}

TEST(CudaOptim, AdamMatchesCpu) {
  KN_REQUIRE_GPU();
  Buffers b;
  DeviceBuffer<float> p(b.p), g(kN), m(b.s0), v(b.s1);
  const double lr = 0.001, b1 = 0.9, b2 = 0.999;
  for (int t = 1; t <= kSteps; ++t) {
    const double alpha = lr * std::sqrt(1.0 - std::pow(b2, t)) / (1.0 - std::pow(b1, t));
    cpu::adam_step(b.p.data(), b.grads[t - 1].data(), b.s0.data(), b.s1.data(), kN, alpha, b1, b2, 1e-7);
    g.upload(b.grads[t - 1]);
    cuda::adam_step(p.get(), g.get(), m.get(), v.get(), kN, alpha, b1, b2, 1e-7, nullptr);
  }
  test::expect_close(p.download(), b.p, kTol, "adam parameters");
  test::expect_close(m.download(), b.s0, kTol, "adam first moments");
  test::expect_close(v.download(), b.s1, kTol, "adam second moments");
}

}  // namespace
}  // namespace knotnet

#else
TEST(CudaOptim, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }
#endif
