// The CUDA emulator's own tests: what it promises (README.md here) and that it can fail. Written
// as CUDA and translated like the kernels; built only into the emulator's test program.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <numeric>
#include <vector>

namespace {

constexpr int kThreads = 256;

// Reverses each block's slice of x through shared memory.
template <bool kBarrier>
__global__ void reverse_blocks(const int* x, int* y) {
  __shared__ int tile[kThreads];
  const int t = static_cast<int>(threadIdx.x);
  const int base = static_cast<int>(blockIdx.x) * kThreads;
  tile[t] = x[base + t];
  if (kBarrier) __syncthreads();
  y[base + t] = tile[kThreads - 1 - t];
}

// Half the block returns before a barrier the other half waits at.
__global__ void divergent_barrier(int* y) {
  if (threadIdx.x >= kThreads / 2) return;
  __syncthreads();
  y[threadIdx.x] = 1;
}

// Records which thread of which block wrote each element.
__global__ void coordinates(int* out) {
  const unsigned block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  const unsigned thread = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  const unsigned per_block = blockDim.x * blockDim.y * blockDim.z;
  out[block * per_block + thread] += static_cast<int>(block * 1000 + thread + 1);
}

// A by-value argument changed by one thread stays unchanged for the others.
__global__ void modifies_its_argument(int v, int* out) {
  v += static_cast<int>(threadIdx.x);
  out[threadIdx.x] = v;
}

template <typename T>
struct Device {
  T* p = nullptr;
  size_t n;
  explicit Device(size_t count) : n(count) {
    EXPECT_EQ(cudaMalloc(&p, n * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemset(p, 0, n * sizeof(T)), cudaSuccess);
  }
  ~Device() { cudaFree(p); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    EXPECT_EQ(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }
  void put(const std::vector<T>& h) { EXPECT_EQ(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess); }
};

TEST(CudaEmu, SharedMemoryAndABarrierWorkAcrossBlocks) {
  const int blocks = 5;
  std::vector<int> x(blocks * kThreads);
  std::iota(x.begin(), x.end(), 100);
  Device<int> dx(x.size()), dy(x.size());
  dx.put(x);
  reverse_blocks<true><<<blocks, kThreads>>>(dx.p, dy.p);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const auto y = dy.get();
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < kThreads; ++t) ASSERT_EQ(y[b * kThreads + t], x[b * kThreads + kThreads - 1 - t]);
}

TEST(CudaEmu, AMissingBarrierGivesWrongResults) {
  // Threads run in a shuffled order, so without the barrier some read slots not yet written.
  std::vector<int> x(kThreads);
  std::iota(x.begin(), x.end(), 1);
  Device<int> dx(x.size()), dy(x.size());
  dx.put(x);
  reverse_blocks<false><<<1, kThreads>>>(dx.p, dy.p);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const auto y = dy.get();
  int wrong = 0;
  for (int t = 0; t < kThreads; ++t) wrong += y[t] != x[kThreads - 1 - t] ? 1 : 0;
  EXPECT_GT(wrong, kThreads / 8) << "without the barrier, about half the reads should be stale";
}

TEST(CudaEmu, ABarrierNotReachedByEveryThreadIsALaunchFailure) {
  Device<int> dy(kThreads);
  divergent_barrier<<<1, kThreads>>>(dy.p);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "reading the error clears it";
}

TEST(CudaEmu, EveryThreadOfEveryBlockRunsOnceWithItsCoordinates) {
  const dim3 grid(3, 2, 2), block(8, 4, 2);
  const unsigned per_block = 64, blocks = 12;
  Device<int> out(per_block * blocks);
  coordinates<<<grid, block, 0, nullptr>>>(out.p);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const auto v = out.get();
  for (unsigned b = 0; b < blocks; ++b)
    for (unsigned t = 0; t < per_block; ++t) ASSERT_EQ(v[b * per_block + t], static_cast<int>(b * 1000 + t + 1));
}

TEST(CudaEmu, KernelArgumentsAreCopiesPerThread) {
  Device<int> out(32);
  modifies_its_argument<<<1, 32>>>(40, out.p);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const auto v = out.get();
  for (int t = 0; t < 32; ++t) EXPECT_EQ(v[t], 40 + t);
}

TEST(CudaEmu, InvalidLaunchConfigurationsAreErrors) {
  Device<int> out(32);
  modifies_its_argument<<<1, 2048>>>(0, out.p);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  modifies_its_argument<<<dim3(1, 70000), 32>>>(0, out.p);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  modifies_its_argument<<<0, 32>>>(0, out.p);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
}

TEST(CudaEmu, CopiesAndSetsOutsideAnAllocationAreErrors) {
  Device<float> d(10);
  std::vector<float> h(11, 1.0f);
  EXPECT_EQ(cudaMemcpy(d.p, h.data(), 11 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(h.data(), d.p + 1, 10 * sizeof(float), cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemset(d.p + 5, 0, 6 * sizeof(float)), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemset(d.p + 5, 0, 5 * sizeof(float)), cudaSuccess);
  EXPECT_EQ(cudaFree(h.data()), cudaErrorInvalidDevicePointer);
  (void)cudaGetLastError();
}

#if defined(__SANITIZE_ADDRESS__)
__global__ void writes_one_past(int* y, int n) { y[n] = 7; }

TEST(CudaEmuDeathTest, AnOutOfBoundsWriteInAKernelIsCaughtByAddressSanitizer) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        int* y = nullptr;
        cudaMalloc(&y, 16 * sizeof(int));
        writes_one_past<<<1, 1>>>(y, 16);
      },
      "heap-buffer-overflow");
}
#endif

}  // namespace
