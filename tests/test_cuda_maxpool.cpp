// GPU 2x2 max-pooling against the CPU reference: outputs, argmax and input gradients must match
// exactly (the same comparisons on the same floats; the gradient is a copy, not arithmetic).
// Odd heights and widths drop their last row/column, whose gradient must be written as zero.
// Ties (a window of equal values) must go to the first position, as on the CPU.
// Backward runs per (window, 4 channels) when C % 4 == 0 and the buffers are aligned, else per
// (window, channel): the shapes cover both, each odd side alone and both, no window at all (H or
// W of 1: dx all zeros), and a buffer one element off its alignment.
#include <gtest/gtest.h>

#include "tests/support/cuda_testing.h"

#ifdef KNOTNET_HAVE_CUDA
#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/cpu/pool.h"
#include "kernels/cuda/maxpool.h"

namespace knotnet {
namespace {

using test::DeviceBuffer;

struct PoolCase {
  int64_t n, h, w, c;
};

class CudaMaxPool : public ::testing::TestWithParam<PoolCase> {};

TEST_P(CudaMaxPool, ForwardAndBackwardMatchCpuExactly) {
  KN_REQUIRE_GPU();
  const PoolCase k = GetParam();
  KN_SKIP_IF_LARGE(k.n * k.h * k.w * k.c);
  const int64_t in = k.n * k.h * k.w * k.c, out = k.n * (k.h / 2) * (k.w / 2) * k.c;
  auto x = test::random_floats(in, 41);
  // Plant ties: quantise a stretch of the input to a few levels so equal values meet in windows.
  for (int64_t i = 0; i < in / 4; ++i) x[static_cast<size_t>(i)] = static_cast<float>(static_cast<int>(x[i] * 2)) / 2;
  auto dy = test::random_floats(out, 42);
  std::vector<float> y_ref(static_cast<size_t>(out)), dx_ref(static_cast<size_t>(in));
  std::vector<uint8_t> am_ref(static_cast<size_t>(out));
  cpu::maxpool2_forward(x.data(), y_ref.data(), am_ref.data(), k.n, k.h, k.w, k.c);
  cpu::maxpool2_backward(dy.data(), am_ref.data(), dx_ref.data(), k.n, k.h, k.w, k.c);

  DeviceBuffer<float> gx(x), gy(out), gdy(dy), gdx(in);
  DeviceBuffer<uint8_t> gam(out);
  cuda::maxpool2_forward(gx.get(), gy.get(), gam.get(), k.n, k.h, k.w, k.c, nullptr);
  cuda::maxpool2_backward(gdy.get(), gam.get(), gdx.get(), k.n, k.h, k.w, k.c, nullptr);
  test::expect_equal(gy.download(), y_ref, "maxpool forward");
  test::expect_equal(gam.download(), am_ref, "maxpool argmax");
  test::expect_equal(gdx.download(), dx_ref, "maxpool backward");
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaMaxPool,
                         ::testing::Values(PoolCase{1, 2, 2, 1}, PoolCase{2, 5, 7, 3}, PoolCase{3, 6, 4, 33},
                                           PoolCase{4, 126, 126, 64}, PoolCase{5, 63, 63, 96},
                                           PoolCase{2, 29, 29, 128},
                                           PoolCase{3, 7, 6, 4},     // odd height only, 4 channels at a time
                                           PoolCase{2, 6, 9, 8},     // odd width only
                                           PoolCase{7, 9, 5, 6},     // C % 4 == 2: one channel at a time
                                           PoolCase{33, 3, 3, 12},   // many images of one window each
                                           PoolCase{2, 1, 6, 4},     // no window: dx all zeros
                                           PoolCase{3, 5, 1, 3}));

// Buffers one element past an aligned address: C % 4 == 0, but the kernel must not use 16-byte
// accesses there.
TEST(CudaMaxPoolUnaligned, BackwardMatchesCpuExactly) {
  KN_REQUIRE_GPU();
  const int64_t n = 3, h = 7, w = 9, c = 8;
  const int64_t in = n * h * w * c, out = n * (h / 2) * (w / 2) * c;
  auto x = test::random_floats(in, 43);
  auto dy = test::random_floats(out, 44);
  std::vector<float> y_ref(static_cast<size_t>(out)), dx_ref(static_cast<size_t>(in));
  std::vector<uint8_t> am_ref(static_cast<size_t>(out));
  cpu::maxpool2_forward(x.data(), y_ref.data(), am_ref.data(), n, h, w, c);
  cpu::maxpool2_backward(dy.data(), am_ref.data(), dx_ref.data(), n, h, w, c);

  auto shifted = [](const auto& v) {  // one leading element, so that data()+1 is the tensor
    std::decay_t<decltype(v)> r(v.size() + 1);
    std::copy(v.begin(), v.end(), r.begin() + 1);
    return r;
  };
  DeviceBuffer<float> gdy(shifted(dy)), gdx(in + 1);
  DeviceBuffer<uint8_t> gam(shifted(am_ref));
  cuda::maxpool2_backward(gdy.get() + 1, gam.get() + 1, gdx.get() + 1, n, h, w, c, nullptr);
  const auto dx = gdx.download();
  test::expect_equal(std::vector<float>(dx.begin() + 1, dx.end()), dx_ref, "unaligned maxpool backward");
}

}  // namespace
}  // namespace knotnet

#else
TEST(CudaMaxPool, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }
#endif
