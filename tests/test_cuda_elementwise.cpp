// GPU elementwise kernels against the CPU reference: uint8 conversion and one-hot targets,
// ReLU, dropout (bit-identical masks), column sums. Sizes odd and even, outputs poisoned.
// Tolerances: conversion, ReLU, one-hot, dropout and max-pool must match exactly (same float
// operations); column sums 1e-6 relative (double partials, rounded once to float).
#include <gtest/gtest.h>

#include "tests/support/cuda_testing.h"

#ifdef KNOTNET_HAVE_CUDA
#include "engine/rng.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/dropout.h"
#include "kernels/cuda/convert.h"
#include "kernels/cuda/dropout.h"
#include "kernels/cuda/reduce.h"
#include "kernels/cuda/relu.h"

namespace knotnet {
namespace {

using test::DeviceBuffer;

class CudaElementwise : public ::testing::TestWithParam<int64_t> {};

TEST_P(CudaElementwise, U8ToUnitMatchesCpuExactly) {
  KN_REQUIRE_GPU();
  const int64_t n = GetParam();
  KN_SKIP_IF_LARGE(n);
  std::vector<uint8_t> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<uint8_t>(random_bits(1, 2, i) & 0xFF);
  std::vector<float> ref(x.size());
  cpu::u8_to_unit(x.data(), ref.data(), n);
  DeviceBuffer<uint8_t> dx(x);
  DeviceBuffer<float> dy(n);
  cuda::u8_to_unit(dx.get(), dy.get(), n, nullptr);
  test::expect_equal(dy.download(), ref, "u8_to_unit");
}

TEST_P(CudaElementwise, U8ToUnitHandlesAnUnalignedStart) {
  KN_REQUIRE_GPU();
  const int64_t n = GetParam();
  KN_SKIP_IF_LARGE(n);
  std::vector<uint8_t> x(static_cast<size_t>(n + 1));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(i * 37 + 11);
  std::vector<float> ref(static_cast<size_t>(n));
  cpu::u8_to_unit(x.data() + 1, ref.data(), n);
  DeviceBuffer<uint8_t> dx(x);
  DeviceBuffer<float> dy(n);
  cuda::u8_to_unit(dx.get() + 1, dy.get(), n, nullptr);
  test::expect_equal(dy.download(), ref, "u8_to_unit from an odd address");
}

TEST_P(CudaElementwise, ReluForwardAndBackwardMatchCpuExactly) {
  KN_REQUIRE_GPU();
  const int64_t n = GetParam();
  KN_SKIP_IF_LARGE(n);
  auto x = test::random_floats(n, 11);
  auto dy = test::random_floats(n, 12);
  if (n > 3) x[3] = 0.0f;  // the kink: gradient 0 there, as on the CPU
  std::vector<float> y_ref(x.size()), dx_ref(x.size());
  cpu::relu_forward(x.data(), y_ref.data(), n);
  cpu::relu_backward(y_ref.data(), dy.data(), dx_ref.data(), n);
  DeviceBuffer<float> dxin(x), dyin(dy), dyout(n), ddx(n);
  cuda::relu_forward(dxin.get(), dyout.get(), n, nullptr);
  cuda::relu_backward(dyout.get(), dyin.get(), ddx.get(), n, nullptr);
  test::expect_equal(dyout.download(), y_ref, "relu forward");
  test::expect_equal(ddx.download(), dx_ref, "relu backward");
  // In place, as the layer may run it.
  cuda::relu_forward(dxin.get(), dxin.get(), n, nullptr);
  test::expect_equal(dxin.download(), y_ref, "relu forward in place");
}

TEST_P(CudaElementwise, DropoutMasksAndValuesAreBitIdenticalToCpu) {
  KN_REQUIRE_GPU();
  const int64_t n = GetParam();
  KN_SKIP_IF_LARGE(n);
  auto x = test::random_floats(n, 21);
  for (double rate : {0.0, 0.1, 0.5, 0.9}) {
    const uint64_t seed = 1234, stream = fnv1a64("dropout_1") + 7;
    std::vector<float> ref(x.size()), back_ref(x.size());
    cpu::dropout_forward(x.data(), ref.data(), n, rate, seed, stream);
    cpu::dropout_backward(x.data(), back_ref.data(), n, rate, seed, stream);
    DeviceBuffer<float> dx(x), dy(n), dback(n);
    cuda::dropout_forward(dx.get(), dy.get(), n, rate, seed, stream, nullptr);
    cuda::dropout_backward(dx.get(), dback.get(), n, rate, seed, stream, nullptr);
    test::expect_equal(dy.download(), ref, "dropout forward, rate " + std::to_string(rate));
    test::expect_equal(dback.download(), back_ref, "dropout backward, rate " + std::to_string(rate));
  }
}

TEST_P(CudaElementwise, ColumnSumsMatchCpuDoubleSums) {
  KN_REQUIRE_GPU();
  const int64_t total = GetParam();
  KN_SKIP_IF_LARGE(total);
  for (int64_t c : {int64_t{1}, int64_t{3}, int64_t{33}, int64_t{64}}) {
    const int64_t m = total / c;
    if (m == 0) continue;
    auto x = test::random_floats(m * c, 31 + c);
    std::vector<double> ref(static_cast<size_t>(c), 0.0);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < c; ++j) ref[static_cast<size_t>(j)] += x[static_cast<size_t>(r * c + j)];
    DeviceBuffer<float> dx(x), out(c);
    DeviceBuffer<double> work(cuda::column_sums_workspace(m, c));
    cuda::column_sums(dx.get(), out.get(), m, c, work.get(), nullptr);
    test::expect_close(out.download(), ref, 1e-6, "column sums of (" + std::to_string(m) + ", " + std::to_string(c) + ")");
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, CudaElementwise, ::testing::Values(1, 7, 256, 1000, 4099, 1 << 20));

TEST(CudaConvert, OneHotMatchesCpuAndFlagsBadLabels) {
  KN_REQUIRE_GPU();
  const int64_t n = 37, k = 3;
  std::vector<int32_t> labels(n);
  for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = static_cast<int32_t>(i % k);
  std::vector<float> ref(static_cast<size_t>(n * k));
  ASSERT_TRUE(cpu::indices_to_onehot(labels.data(), ref.data(), n, k));
  DeviceBuffer<int32_t> dl(labels);
  DeviceBuffer<float> out(n * k);
  DeviceBuffer<int> bad(std::vector<int>{0});
  cuda::indices_to_onehot(dl.get(), out.get(), n, k, bad.get(), nullptr);
  test::expect_equal(out.download(), ref, "one-hot");
  EXPECT_EQ(bad.download()[0], 0);
  labels[5] = 3;
  dl.upload(labels);
  cuda::indices_to_onehot(dl.get(), out.get(), n, k, bad.get(), nullptr);
  EXPECT_EQ(bad.download()[0], 1) << "a label outside [0, k) must be flagged";
}

}  // namespace
}  // namespace knotnet

#else
TEST(CudaElementwise, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }
#endif
