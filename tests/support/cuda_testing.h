// Helpers for the GPU tests (tests/test_cuda_*.cpp): skipping without a GPU, device buffers
// poisoned with NaN before a kernel writes them, and comparisons against the CPU reference that
// report the worst element. Header-only; every test using it starts with KN_REQUIRE_GPU().
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/support/test_support.h"

#ifdef KNOTNET_HAVE_CUDA
#include <cuda_runtime.h>

#include "engine/cuda_check.h"
#endif

// Skips the test (counted as skipped, not passed) where no CUDA device is present.
#define KN_REQUIRE_GPU()                                                           \
  do {                                                                             \
    if (!::knotnet::test::cuda_device_present()) GTEST_SKIP() << "no CUDA device present"; \
  } while (0)

// Under compute-sanitizer kernels run 10-1000x slower; scripts/gpu-check sets KNOTNET_GPU_SMALL
// there, and the cases larger than its limit are skipped (they run in the plain ctest pass).
// KNOTNET_GPU_SMALL=1 means 2^20 (memcheck); a larger number is the limit itself (racecheck's
// is 2^16: see scripts/gpu-check).
#define KN_SKIP_IF_LARGE(elements)                                                              \
  do {                                                                                          \
    if (::knotnet::test::small_run() && static_cast<double>(elements) > ::knotnet::test::small_limit()) \
      GTEST_SKIP() << "large case skipped under KNOTNET_GPU_SMALL";                            \
  } while (0)

namespace knotnet::test {

// Whether a CUDA device is present, decided in the test's own translation unit: the CUDA
// emulator's tests (tests/cuda_emu) compile the GPU tests against an emulated device while the
// test support library was built without CUDA (whose have_gpu() says false).
inline bool cuda_device_present() {
#ifdef KNOTNET_HAVE_CUDA
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
#else
  return false;
#endif
}

// A small model for the delivery and trainer tests, 8x8x3 images: its convolution is the
// hand-written implicit GEMM, which is deterministic, so two runs can be compared bit for bit.
inline const char* small_deterministic_spec() {
  return "input 8 8 3\n"
         "conv 4 3 same implicit\n"
         "relu\n"
         "maxpool 2\n"
         "flatten\n"
         "dense 3\n"
         "softmax\n";
}

inline bool small_run() {
  const char* v = std::getenv("KNOTNET_GPU_SMALL");
  return v && *v && std::string(v) != "0";
}

// The largest case (in the unit each test's KN_SKIP_IF_LARGE counts) run under KNOTNET_GPU_SMALL.
inline double small_limit() {
  const char* v = std::getenv("KNOTNET_GPU_SMALL");
  char* end = nullptr;
  const double n = v ? std::strtod(v, &end) : 0.0;
  return end && *end == '\0' && n > 1.0 ? n : double(1 << 20);
}

#ifdef KNOTNET_HAVE_CUDA
// An owning device buffer of n elements, made full of 0xFF bytes (NaN for floats), so an
// element a kernel fails to write shows up as NaN in the comparison. poison() and upload() run
// on the legacy default stream and wait for it: the engine's streams are non-blocking and would
// not wait for a cudaMemset (asynchronous on device memory) before a kernel reads the buffer.
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(int64_t n) : n_(n) {
    if (n_ > 0) KN_CUDA_CHECK(cudaMalloc(&p_, bytes()));
    poison();
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(static_cast<int64_t>(host.size())) {
    upload(host);
  }
  ~DeviceBuffer() {
    if (p_) cudaFree(p_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return p_; }
  int64_t size() const { return n_; }
  size_t bytes() const { return static_cast<size_t>(n_) * sizeof(T); }
  void poison() {
    if (p_) KN_CUDA_CHECK(cudaMemset(p_, 0xFF, bytes()));
    KN_CUDA_CHECK(cudaDeviceSynchronize());
  }
  void upload(const std::vector<T>& host) {
    EXPECT_EQ(static_cast<int64_t>(host.size()), n_);
    if (p_) KN_CUDA_CHECK(cudaMemcpy(p_, host.data(), bytes(), cudaMemcpyHostToDevice));
    KN_CUDA_CHECK(cudaDeviceSynchronize());
  }
  // Waits for all device work first (tests only; never in the engine).
  std::vector<T> download() const {
    KN_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<T> host(static_cast<size_t>(n_));
    if (p_) KN_CUDA_CHECK(cudaMemcpy(host.data(), p_, bytes(), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  T* p_ = nullptr;
  int64_t n_ = 0;
};
#endif

template <typename T>
double l2_norm(const std::vector<T>& v) {
  double s = 0.0;
  for (const T& x : v) s += static_cast<double>(x) * static_cast<double>(x);
  return std::sqrt(s);
}

template <typename To, typename From>
std::vector<To> convert(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

// Compares a GPU result with the CPU reference, elementwise:
//   |gpu - ref| <= tol * max(|ref|, floor_frac * max|ref|)
// i.e. a relative bound that turns into an absolute one (relative to the tensor's scale) for
// elements near zero, where cancellation makes relative error meaningless. NaN anywhere fails
// (an element the kernel never wrote keeps its NaN poison).
template <typename G, typename R>
void expect_close(const std::vector<G>& gpu, const std::vector<R>& ref, double tol, const std::string& what,
                  double floor_frac = 1e-2) {
  ASSERT_EQ(gpu.size(), ref.size()) << what;
  double scale = 0.0;
  for (const R& r : ref) scale = std::max(scale, std::fabs(static_cast<double>(r)));
  const double floor = std::max(scale * floor_frac, 1e-30);
  double worst = 0.0;
  size_t worst_at = 0;
  size_t bad = 0;
  for (size_t i = 0; i < gpu.size(); ++i) {
    const double g = static_cast<double>(gpu[i]), r = static_cast<double>(ref[i]);
    if (std::isnan(g) != std::isnan(r)) {
      ++bad;
      if (bad == 1) ADD_FAILURE() << what << ": element " << i << " is " << g << ", reference " << r;
      continue;
    }
    if (std::isnan(g)) continue;
    const double err = std::fabs(g - r) / std::max(std::fabs(r), floor);
    if (err > worst) worst = err, worst_at = i;
    if (err > tol) ++bad;
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << gpu.size() << " elements off; worst relative error "
                     << worst << " at " << worst_at << " (gpu " << static_cast<double>(gpu[worst_at]) << ", ref "
                     << static_cast<double>(ref[worst_at]) << "), bound " << tol;
}

// Compares two tensors as wholes: the relative L2 norm of the difference,
//   ||gpu - ref|| <= tol * ||ref||.
// For whole-model gradients, where an elementwise bound is ill-posed: a max-pool window whose two
// largest inputs differ by less than the two devices' rounding picks a different maximum on each,
// and routes that element's gradient to its neighbour (the forward output is unaffected). On the
// seed model at 32x32 one such flip moves a gradient tensor by about 2e-4 to 5e-4 in this norm,
// far above rounding (about 1e-6) and far below what a wrong index or a missed buffer does.
template <typename G, typename R>
void expect_close_l2(const std::vector<G>& gpu, const std::vector<R>& ref, double tol, const std::string& what) {
  ASSERT_EQ(gpu.size(), ref.size()) << what;
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < gpu.size(); ++i) {
    const double g = static_cast<double>(gpu[i]), r = static_cast<double>(ref[i]);
    diff += (g - r) * (g - r);
    norm += r * r;
  }
  const double rel = std::sqrt(diff) / std::max(std::sqrt(norm), 1e-300);
  EXPECT_LE(rel, tol) << what << ": relative L2 error " << rel << " (difference norm " << std::sqrt(diff)
                      << ", reference norm " << std::sqrt(norm) << "), bound " << tol;
}

// Bit-for-bit equality (dropout, max-pool, conversions).
template <typename T>
void expect_equal(const std::vector<T>& gpu, const std::vector<T>& ref, const std::string& what) {
  ASSERT_EQ(gpu.size(), ref.size()) << what;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < gpu.size(); ++i)
    if (!(gpu[i] == ref[i])) {
      if (bad++ == 0) first = i;
    }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << gpu.size() << " elements differ; first at " << first
                     << " (gpu " << +gpu[first] << ", ref " << +ref[first] << ")";
}

}  // namespace knotnet::test
