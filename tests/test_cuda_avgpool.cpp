// GPU 2x2 average-pooling against the CPU reference, exactly: both sum a window as (top-left +
// top-right) + (bottom-left + bottom-right) and multiply by 0.25 (exact), and backward's quarter
// of a gradient is exact too. Odd heights and widths drop their last row/column, whose gradient
// must be written as zero (outputs start as NaN poison). Both directions run per (window, 4
// channels) when C % 4 == 0 and the buffers are aligned, else per (window, channel): the shapes
// cover both, each odd side alone and both, no window at all (H or W of 1: dx all zeros), and
// buffers one element off their alignment (input side, output side, both).
#include <gtest/gtest.h>

#include "tests/support/cuda_testing.h"

#ifdef KNOTNET_HAVE_CUDA
#include <algorithm>
#include <utility>
#include <vector>

#include "kernels/cpu/pool.h"
#include "kernels/cuda/avgpool.h"

namespace knotnet {
namespace {

using test::DeviceBuffer;

struct PoolCase {
  int64_t n, h, w, c;
};

class CudaAvgPool : public ::testing::TestWithParam<PoolCase> {};

TEST_P(CudaAvgPool, ForwardAndBackwardMatchCpuExactly) {
  KN_REQUIRE_GPU();
  const PoolCase k = GetParam();
  KN_SKIP_IF_LARGE(k.n * k.h * k.w * k.c);
  const int64_t in = k.n * k.h * k.w * k.c, out = k.n * (k.h / 2) * (k.w / 2) * k.c;
  const auto x = test::random_floats(in, 51);
  const auto dy = test::random_floats(out, 52);
  std::vector<float> y_ref(static_cast<size_t>(out)), dx_ref(static_cast<size_t>(in));
  cpu::avgpool2_forward(x.data(), y_ref.data(), k.n, k.h, k.w, k.c);
  cpu::avgpool2_backward(dy.data(), dx_ref.data(), k.n, k.h, k.w, k.c);

  DeviceBuffer<float> gx(x), gy(out), gdy(dy), gdx(in);
  cuda::avgpool2_forward(gx.get(), gy.get(), k.n, k.h, k.w, k.c, nullptr);
  cuda::avgpool2_backward(gdy.get(), gdx.get(), k.n, k.h, k.w, k.c, nullptr);
  test::expect_equal(gy.download(), y_ref, "avgpool forward");
  test::expect_equal(gdx.download(), dx_ref, "avgpool backward");
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaAvgPool,
                         ::testing::Values(PoolCase{1, 2, 2, 1}, PoolCase{2, 5, 7, 3}, PoolCase{3, 6, 4, 33},
                                           PoolCase{4, 128, 128, 3},  // the knot images, first layer
                                           PoolCase{5, 63, 63, 96},
                                           PoolCase{3, 7, 6, 4},    // odd height only, 4 channels at a time
                                           PoolCase{2, 6, 9, 8},    // odd width only
                                           PoolCase{7, 9, 5, 6},    // C % 4 == 2: one channel at a time
                                           PoolCase{33, 3, 3, 12},  // many images of one window each
                                           PoolCase{2, 1, 6, 4},    // no window: y empty, dx all zeros
                                           PoolCase{3, 5, 1, 3}));

// Buffers one element past an aligned address, C % 4 == 0: the kernels must not use 16-byte
// accesses on any of them. Each side is shifted alone and both together, so that an alignment
// check forgotten on one pointer shows.
class CudaAvgPoolUnaligned : public ::testing::TestWithParam<std::pair<bool, bool>> {};

TEST_P(CudaAvgPoolUnaligned, ForwardAndBackwardMatchCpuExactly) {
  KN_REQUIRE_GPU();
  const auto [shift_in, shift_out] = GetParam();
  const int64_t n = 3, h = 7, w = 9, c = 8;
  const int64_t in = n * h * w * c, out = n * (h / 2) * (w / 2) * c;
  const auto x = test::random_floats(in, 53);
  const auto dy = test::random_floats(out, 54);
  std::vector<float> y_ref(static_cast<size_t>(out)), dx_ref(static_cast<size_t>(in));
  cpu::avgpool2_forward(x.data(), y_ref.data(), n, h, w, c);
  cpu::avgpool2_backward(dy.data(), dx_ref.data(), n, h, w, c);

  auto shifted = [](const std::vector<float>& v) {  // one leading element, so that data()+1 is the tensor
    std::vector<float> r(v.size() + 1);
    std::copy(v.begin(), v.end(), r.begin() + 1);
    return r;
  };
  const int64_t si = shift_in ? 1 : 0, so = shift_out ? 1 : 0;
  // Forward reads x (input side) and writes y; backward reads dy (output side) and writes dx.
  DeviceBuffer<float> gx(shift_in ? shifted(x) : x), gy(out + so), gdy(shift_out ? shifted(dy) : dy), gdx(in + si);
  cuda::avgpool2_forward(gx.get() + si, gy.get() + so, n, h, w, c, nullptr);
  cuda::avgpool2_backward(gdy.get() + so, gdx.get() + si, n, h, w, c, nullptr);
  const auto y = gy.download();
  const auto dx = gdx.download();
  test::expect_equal(std::vector<float>(y.begin() + so, y.end()), y_ref, "unaligned avgpool forward");
  test::expect_equal(std::vector<float>(dx.begin() + si, dx.end()), dx_ref, "unaligned avgpool backward");
}

INSTANTIATE_TEST_SUITE_P(Shifts, CudaAvgPoolUnaligned,
                         ::testing::Values(std::make_pair(true, false), std::make_pair(false, true),
                                           std::make_pair(true, true)));

}  // namespace
}  // namespace knotnet

#else
TEST(CudaAvgPool, SkippedWithoutCuda) { GTEST_SKIP() << "this build has no CUDA backend"; }
#endif
