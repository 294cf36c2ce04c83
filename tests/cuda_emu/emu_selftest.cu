// The CUDA emulator's own tests: what it promises (README.md here) and that it can fail. Written
// as CUDA and translated like the kernels; built only into the emulator's test program.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstdlib>
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

// Block b writes only element b of a shared array, then every thread reads its own element.
__global__ void reads_shared_it_never_wrote(int* out) {
  __shared__ int slots[8];
  if (threadIdx.x == 0) slots[blockIdx.x] = static_cast<int>(blockIdx.x) + 100;
  __syncthreads();
  out[blockIdx.x * 8 + threadIdx.x] = slots[threadIdx.x];
}

// Thread 0 writes slot 0, everyone reads it after a barrier; then, without a second barrier,
// thread 1 writes it again: a write after the others' reads.
__global__ void write_after_reads(int* out) {
  __shared__ int slot[1];
  if (threadIdx.x == 0) slot[0] = 7;
  __syncthreads();
  out[threadIdx.x] = slot[0];
  if (threadIdx.x == 1) slot[0] = 8;
}

// No race: each thread writes and reads back its own slot, all read one slot after a barrier,
// and one thread writes that slot again after another.
__global__ void shares_without_races(int* out) {
  __shared__ int slots[kThreads];
  const int t = static_cast<int>(threadIdx.x);
  slots[t] = t;
  slots[t] += slots[t];
  __syncthreads();
  const int first = slots[0];
  __syncthreads();
  if (t == 0) slots[0] = 5;
  __syncthreads();
  out[t] = slots[t] + first + slots[0];
}

// Reads one slot past the end of a shared array.
__global__ void reads_past_shared(int* out) {
  __shared__ int slots[4];
  if (threadIdx.x < 4) slots[threadIdx.x] = 1;
  __syncthreads();
  out[threadIdx.x] = slots[threadIdx.x];
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
    // The memset is queued on the legacy default stream, which non-blocking streams do not wait
    // for (TheLegacyStreamDoesNotOrderNonBlockingStreams).
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
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

// A race fails the launch, and a launch failure is sticky: each of these runs in a child process.
TEST(CudaEmuDeathTest, AMissingBarrierIsASharedMemoryRace) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        int* x = nullptr;
        int* y = nullptr;
        cudaMalloc(&x, kThreads * sizeof(int));
        cudaMalloc(&y, kThreads * sizeof(int));
        reverse_blocks<false><<<1, kThreads>>>(x, y);
        std::exit(cudaDeviceSynchronize() == cudaErrorLaunchFailure ? 0 : 1);
      },
      ::testing::ExitedWithCode(0),
      "shared-memory race: thread \\([0-9]+, 0, 0\\) (read|wrote) word [0-9]+ of a 1024-byte shared array that "
      "thread \\([0-9]+, 0, 0\\) (read|wrote), with no __syncthreads\\(\\) between, in block \\(0, 0, 0\\)");
}

TEST(CudaEmuDeathTest, AWriteAfterOtherThreadsReadsIsARace) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        int* y = nullptr;
        cudaMalloc(&y, 8 * sizeof(int));
        write_after_reads<<<1, 8>>>(y);
        std::exit(cudaDeviceSynchronize() == cudaErrorLaunchFailure ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "thread \\(1, 0, 0\\) wrote word 0 of a 4-byte shared array that thread .* read");
}

TEST(CudaEmuDeathTest, ASharedIndexOutOfRangeFailsTheLaunch) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        int* y = nullptr;
        cudaMalloc(&y, 8 * sizeof(int));
        reads_past_shared<<<1, 8>>>(y);
        std::exit(cudaDeviceSynchronize() == cudaErrorLaunchFailure ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "shared-memory index [4-7] outside an array dimension of 4");
}

TEST(CudaEmu, OwnSlotsBroadcastReadsAndWritesAfterBarriersAreNotRaces) {
  Device<int> out(kThreads);
  shares_without_races<<<3, kThreads>>>(out.p);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto v = out.get();
  for (int t = 0; t < kThreads; ++t) ASSERT_EQ(v[t], (t == 0 ? 5 : 2 * t) + 0 + 5) << "thread " << t;
}

// A launch failure is sticky, as in CUDA (the context is unusable after it), so it runs in a
// child process of its own.
TEST(CudaEmuDeathTest, ABarrierNotReachedByEveryThreadIsAStickyLaunchFailure) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        int* y = nullptr;
        cudaMalloc(&y, kThreads * sizeof(int));
        divergent_barrier<<<1, kThreads>>>(y);
        const bool launched = cudaGetLastError() == cudaSuccess;  // valid; the grid has not run yet
        const bool reported = cudaDeviceSynchronize() == cudaErrorLaunchFailure;  // when the host waits
        const bool sticky = cudaGetLastError() == cudaErrorLaunchFailure && cudaPeekAtLastError() == cudaErrorLaunchFailure &&
                            cudaDeviceSynchronize() == cudaErrorLaunchFailure;
        std::exit(launched && reported && sticky ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "reached by 128 of 256 threads");
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

TEST(CudaEmu, SharedMemoryABlockNeverWroteIsGarbageNotZeroOrAnotherBlocksValue) {
  Device<int> out(64);
  reads_shared_it_never_wrote<<<8, 8>>>(out.p);
  const auto v = out.get();
  for (int b = 0; b < 8; ++b)
    for (int t = 0; t < 8; ++t) ASSERT_EQ(v[b * 8 + t], t == b ? b + 100 : -1) << "block " << b << ", thread " << t;
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

// ---- streams and events: queued work runs when the host waits, in any order events allow ----

__global__ void add_one(int* x, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) x[i] += 1;
}

__global__ void copy_ints(const int* x, int* y, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) y[i] = x[i];
}

struct Stream {
  cudaStream_t s = nullptr;
  explicit Stream(unsigned flags = cudaStreamNonBlocking) { EXPECT_EQ(cudaStreamCreateWithFlags(&s, flags), cudaSuccess); }
  ~Stream() { cudaStreamDestroy(s); }
};

struct Event {
  cudaEvent_t e = nullptr;
  Event() { EXPECT_EQ(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), cudaSuccess); }
  ~Event() { cudaEventDestroy(e); }
};

struct Pinned {
  int* p = nullptr;
  explicit Pinned(size_t n) { EXPECT_EQ(cudaHostAlloc(reinterpret_cast<void**>(&p), n * sizeof(int), 0), cudaSuccess); }
  ~Pinned() { cudaFreeHost(p); }
};

TEST(CudaEmu, QueuedWorkRunsOnlyWhenTheHostWaits) {
  constexpr int n = 64;
  Device<int> d(n);
  Pinned h(n);
  Stream s;
  for (int i = 0; i < n; ++i) h.p[i] = -1;
  add_one<<<1, n, 0, s.s>>>(d.p, n);
  ASSERT_EQ(cudaMemcpyAsync(h.p, d.p, n * sizeof(int), cudaMemcpyDeviceToHost, s.s), cudaSuccess);
  EXPECT_EQ(h.p[0], -1) << "a host reading pinned memory before waiting must not see the copy";
  ASSERT_EQ(cudaStreamSynchronize(s.s), cudaSuccess);
  for (int i = 0; i < n; ++i) ASSERT_EQ(h.p[i], 1);
}

TEST(CudaEmu, APinnedSourceIsReadWhenTheCopyRunsAPageableOneWhenItIsQueued) {
  constexpr int n = 16;
  Device<int> a(n), b(n);
  Pinned pinned(n);
  std::vector<int> pageable(n, 5);
  Stream s;
  for (int i = 0; i < n; ++i) pinned.p[i] = 7;
  ASSERT_EQ(cudaMemcpyAsync(a.p, pinned.p, n * sizeof(int), cudaMemcpyHostToDevice, s.s), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(b.p, pageable.data(), n * sizeof(int), cudaMemcpyHostToDevice, s.s), cudaSuccess);
  for (int i = 0; i < n; ++i) pinned.p[i] = pageable[i] = 9;  // refilled before the copies ran
  ASSERT_EQ(cudaStreamSynchronize(s.s), cudaSuccess);
  EXPECT_EQ(a.get()[0], 9) << "the copy out of pinned memory sends what is there when it runs";
  EXPECT_EQ(b.get()[0], 5) << "a pageable source is staged by the call, as CUDA stages it";
}

// Stream a fills a buffer that stream b reads. Without an event between them, b may run first;
// with cudaStreamWaitEvent it never does. Several seeds of the queue's order are tried by
// repeating, since each wait draws the next choices from one generator.
TEST(CudaEmu, AMissingStreamWaitIsSeenAndTheWaitOrdersTheStreams) {
  constexpr int n = 32;
  Stream a, b;
  Event filled;
  int stale = 0;
  for (int round = 0; round < 20; ++round) {
    Device<int> src(n), dst(n);
    add_one<<<1, n, 0, a.s>>>(src.p, n);
    copy_ints<<<1, n, 0, b.s>>>(src.p, dst.p, n);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    stale += dst.get()[0] == 0 ? 1 : 0;

    Device<int> src2(n), dst2(n);
    add_one<<<1, n, 0, a.s>>>(src2.p, n);
    ASSERT_EQ(cudaEventRecord(filled.e, a.s), cudaSuccess);
    ASSERT_EQ(cudaStreamWaitEvent(b.s, filled.e, 0), cudaSuccess);
    copy_ints<<<1, n, 0, b.s>>>(src2.p, dst2.p, n);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    ASSERT_EQ(dst2.get()[0], 1) << "round " << round << ": the reading stream ran before the event";
  }
  EXPECT_GT(stale, 0) << "without the wait, the reading stream should sometimes run first";
  EXPECT_LT(stale, 20) << "and sometimes second";
}

TEST(CudaEmu, AnEventSynchronizeWaitsForWorkUpToTheRecordOnly) {
  constexpr int n = 8;
  Device<int> d(n);
  Pinned before(n), after(n);
  Stream s;
  Event e;
  for (int i = 0; i < n; ++i) before.p[i] = after.p[i] = -1;
  ASSERT_EQ(cudaMemcpyAsync(before.p, d.p, n * sizeof(int), cudaMemcpyDeviceToHost, s.s), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(e.e, s.s), cudaSuccess);
  add_one<<<1, n, 0, s.s>>>(d.p, n);
  ASSERT_EQ(cudaMemcpyAsync(after.p, d.p, n * sizeof(int), cudaMemcpyDeviceToHost, s.s), cudaSuccess);
  ASSERT_EQ(cudaEventSynchronize(e.e), cudaSuccess);
  EXPECT_EQ(before.p[0], 0) << "the copy before the record has run";
  EXPECT_EQ(after.p[0], -1) << "the copy after the record has not";
  ASSERT_EQ(cudaStreamSynchronize(s.s), cudaSuccess);
  EXPECT_EQ(after.p[0], 1);
}

TEST(CudaEmu, TheLegacyStreamDoesNotOrderNonBlockingStreams) {
  // cudaMemset queues on the legacy default stream; a kernel on a non-blocking stream may read
  // the buffer before it runs (the fault the GPU tests' DeviceBuffer guards against).
  constexpr int n = 16;
  Stream s;
  int before = 0;
  for (int round = 0; round < 20; ++round) {
    Device<int> src(n), dst(n);
    ASSERT_EQ(cudaMemset(src.p, 1, n * sizeof(int)), cudaSuccess);
    copy_ints<<<1, n, 0, s.s>>>(src.p, dst.p, n);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    before += dst.get()[0] == 0 ? 1 : 0;
  }
  EXPECT_GT(before, 0);
  EXPECT_LT(before, 20);
}

TEST(CudaEmu, TheLegacyStreamAndBlockingStreamsWaitForEachOther) {
  constexpr int n = 16;
  Stream blocking(cudaStreamDefault);
  for (int round = 0; round < 10; ++round) {
    Device<int> a(n), b(n);
    ASSERT_EQ(cudaMemset(a.p, 1, n * sizeof(int)), cudaSuccess);  // legacy stream
    copy_ints<<<1, n, 0, blocking.s>>>(a.p, b.p, n);               // waits for the memset
    add_one<<<1, n, 0, nullptr>>>(b.p, n);                          // legacy: waits for the copy
    ASSERT_EQ(cudaStreamSynchronize(nullptr), cudaSuccess);
    ASSERT_EQ(b.get()[0], 0x01010101 + 1) << "round " << round;
  }
}

// In CUDA a device-to-device cudaMemcpy, and one from pageable memory, return without waiting
// for the copy, which a non-blocking stream's kernel is then not ordered after.
TEST(CudaEmu, SomeSynchronousCopiesDoNotWait) {
  constexpr int n = 16;
  Stream s;
  int stale_d2d = 0, stale_h2d = 0;
  std::vector<int> ones(n, 1);
  for (int round = 0; round < 20; ++round) {
    Device<int> src(n), mid(n), dst(n), dst2(n);
    src.put(ones);
    ASSERT_EQ(cudaMemcpy(mid.p, src.p, n * sizeof(int), cudaMemcpyDeviceToDevice), cudaSuccess);
    copy_ints<<<1, n, 0, s.s>>>(mid.p, dst.p, n);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    stale_d2d += dst.get()[0] == 0 ? 1 : 0;
    Device<int> fresh(n);
    ASSERT_EQ(cudaMemcpy(fresh.p, ones.data(), n * sizeof(int), cudaMemcpyHostToDevice), cudaSuccess);
    copy_ints<<<1, n, 0, s.s>>>(fresh.p, dst2.p, n);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    stale_h2d += dst2.get()[0] == 0 ? 1 : 0;
  }
  EXPECT_GT(stale_d2d, 0) << "a kernel after a device-to-device cudaMemcpy should sometimes run first";
  EXPECT_GT(stale_h2d, 0) << "a kernel after a pageable cudaMemcpy should sometimes run first";
}

TEST(CudaEmu, StreamDestroyReturnsAtOnceAndItsWorkStillRuns) {
  constexpr int n = 8;
  Device<int> d(n);
  Pinned h(n);
  for (int i = 0; i < n; ++i) h.p[i] = -1;
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  add_one<<<1, n, 0, s>>>(d.p, n);
  ASSERT_EQ(cudaMemcpyAsync(h.p, d.p, n * sizeof(int), cudaMemcpyDeviceToHost, s), cudaSuccess);
  ASSERT_EQ(cudaStreamDestroy(s), cudaSuccess);
  EXPECT_EQ(h.p[0], -1) << "destroying a stream does not wait for its work";
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(h.p[0], 1);
}

TEST(CudaEmu, CopiesOfAKindTheEmulatorInfersAreRefused) {
  Device<int> d(4);
  std::vector<int> h(4);
  EXPECT_EQ(cudaMemcpy(h.data(), d.p, 4 * sizeof(int), cudaMemcpyDefault), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
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
        cudaDeviceSynchronize();
      },
      "heap-buffer-overflow");
}
#endif

}  // namespace
