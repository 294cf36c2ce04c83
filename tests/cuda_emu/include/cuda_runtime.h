// The CUDA emulator's stand-in for <cuda_runtime.h> (tests/cuda_emu/README.md): just enough of
// the kernel language and the runtime API for knotnet's kernels (kernels/cuda/*.cu) and its
// engine's CUDA paths to compile as plain C++ and run on the CPU, so that the GPU tests can check
// them against the CPU reference on a machine without a GPU, under AddressSanitizer.
//
// Kernel language: __global__/__device__ vanish, and two rewrites happen at build time
// (translate_launches.cmake): a launch `k<<<grid, block, smem, stream>>>(args)` becomes
// `::kn_emu::launch(grid, block, smem, stream, <calls k>)(args)`, and a shared array becomes a
// static local announced to the scheduler (kn_emu::use_shared), which fills it with garbage
// before each block, as a GPU leaves it, seen through a view that checks every access for races
// and bounds (kn_emu::shared_view).
// threadIdx, blockIdx, blockDim and gridDim are variables that the scheduler (emu_runtime.cpp)
// sets before it runs each emulated thread; __syncthreads() switches fibers. A launch, like a
// copy or a memset, is queued on its stream and runs when the host waits for it, in an order
// among streams that only events constrain (emu_streams.cpp). Grids run one at a time, whatever
// OS thread waits, so plain globals and statics suffice.
//
// This is not a GPU: no warps, no memory model, no two grids at once. What it does check is
// listed in the README; it never replaces the GPU run.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#define KNOTNET_CUDA_EMU_HEADER 1

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// __restrict__ is understood by g++ as it is.

struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

struct alignas(8) float2 {
  float x, y;
};

struct alignas(16) float4 {
  float x, y, z, w;
};

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorCudartUnloading = 4,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorLaunchFailure = 719,
};

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

using cudaStream_t = struct kn_emu_stream*;
using cudaEvent_t = struct kn_emu_event*;

constexpr unsigned cudaStreamDefault = 0, cudaStreamNonBlocking = 1;
constexpr unsigned cudaEventDefault = 0, cudaEventBlockingSync = 1, cudaEventDisableTiming = 2;
constexpr unsigned cudaHostAllocDefault = 0, cudaHostAllocPortable = 1;

enum cudaMemoryType {
  cudaMemoryTypeUnregistered = 0,
  cudaMemoryTypeHost = 1,
  cudaMemoryTypeDevice = 2,
  cudaMemoryTypeManaged = 3,
};

struct cudaPointerAttributes {
  cudaMemoryType type;
  int device;
  void* devicePointer;
  void* hostPointer;
};

// The fields the engine reads; the emulator reports an 80 GiB compute-capability-9.0 device.
struct cudaDeviceProp {
  char name[256];
  int major, minor;
  size_t totalGlobalMem;
  int multiProcessorCount;
};

cudaError_t cudaMalloc(void** p, size_t bytes);
template <typename T>
cudaError_t cudaMalloc(T** p, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
cudaError_t cudaFree(void* p);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* p, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetDeviceCount(int* n);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetPCIBusId(char* bus, int len, int device);
cudaError_t cudaRuntimeGetVersion(int* version);
cudaError_t cudaMemGetInfo(size_t* free, size_t* total);
cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned flags);
cudaError_t cudaMallocHost(void** p, size_t bytes);
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attr, const void* p);
// Streams and events order queued work as CUDA's do (emu_streams.cpp).
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamCreate(cudaStream_t* s);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags = 0);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

// The coordinates of the emulated thread now running (set by the scheduler).
extern uint3 threadIdx;
extern uint3 blockIdx;
extern dim3 blockDim;
extern dim3 gridDim;

namespace kn_emu {

// Checks the configuration now and queues the grid on `stream`; when it runs, `thread` runs once
// for every thread of every block (emu_runtime.cpp).
void launch_grid(dim3 grid, dim3 block, size_t dynamic_smem, cudaStream_t stream, std::function<void()> thread);
// The barrier: every thread of the block waits here until all have arrived.
void syncthreads();
// Where a shared array is declared: the first use in a launch fills it with 0xFF bytes (NaN as
// floats, -1 as integers), and so does the start of every later block of the launch, so a read
// of shared memory the block never wrote is caught, not served zero or another block's value.
void use_shared(void* p, size_t bytes);

// Every element access to a shared array goes through these (SharedView below), which apply
// racecheck's rule at barrier granularity: two threads of a block touching the same 4-byte word
// between two __syncthreads(), at least one of them writing, is a race, and fails the launch
// with both threads named (emu_runtime.cpp). An index outside its array fails it too.
void shared_access(const void* p, size_t bytes, bool write);
void shared_index_out_of_range(long long index, size_t extent);

// A reference to one shared element: reading it or writing it is recorded first.
template <class T>
class SharedRef {
 public:
  explicit SharedRef(T* p) : p_(p) {}
  operator T() const {
    shared_access(p_, sizeof(T), false);
    return *p_;
  }
  SharedRef& operator=(const T& v) {
    shared_access(p_, sizeof(T), true);
    *p_ = v;
    return *this;
  }
  SharedRef& operator=(const SharedRef& o) { return *this = static_cast<T>(o); }
  SharedRef& operator+=(const T& v) { return *this = static_cast<T>(*this) + v; }

 private:
  T* p_;
};

// What a shared array's name stands for in a kernel: indexing it gives a view of the next
// dimension, then a SharedRef to the element, after a bounds check.
template <class A>
class SharedView {
  using Element = std::remove_extent_t<A>;

 public:
  explicit SharedView(A* a) : a_(a) {}
  auto operator[](long long i) const {
    constexpr size_t extent = std::extent_v<A>;
    if (i < 0 || static_cast<size_t>(i) >= extent) {
      shared_index_out_of_range(i, extent);
      i = 0;  // the launch fails; carry on in bounds
    }
    if constexpr (std::is_array_v<Element>)
      return SharedView<Element>(&(*a_)[i]);
    else
      return SharedRef<Element>(&(*a_)[i]);
  }

 private:
  A* a_;
};

template <class A>
SharedView<A> shared_view(A& array) {
  return SharedView<A>(&array);
}

// What `k<<<grid, block, smem, stream>>>` becomes: a callable taking the kernel's arguments.
// The arguments are copied once, as CUDA copies them into the launch's parameter buffer, and kept
// with the queued launch; every emulated thread then calls the kernel with them (by value, as a
// kernel takes them).
template <class Kernel>
struct Launch {
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  Kernel kernel;

  template <class... Args>
  void operator()(Args&&... args) const {
    auto params = std::make_shared<std::tuple<std::decay_t<Args>...>>(std::forward<Args>(args)...);
    launch_grid(grid, block, smem, stream,
                [k = kernel, params] { std::apply([&](auto&... p) { k(p...); }, *params); });
  }
};

template <class Kernel>
Launch<Kernel> launch(dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Kernel kernel) {
  return Launch<Kernel>{grid, block, smem, stream, kernel};
}
template <class Kernel>
Launch<Kernel> launch(dim3 grid, dim3 block, Kernel kernel) {
  return Launch<Kernel>{grid, block, 0, nullptr, kernel};
}
template <class Kernel>
Launch<Kernel> launch(dim3 grid, dim3 block, size_t smem, Kernel kernel) {
  return Launch<Kernel>{grid, block, smem, nullptr, kernel};
}

}  // namespace kn_emu

inline void __syncthreads() { ::kn_emu::syncthreads(); }
