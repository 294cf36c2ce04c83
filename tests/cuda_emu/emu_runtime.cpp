// The CUDA emulator's runtime (tests/cuda_emu/README.md): device memory as host allocations
// that are tracked, so copies outside an allocation are caught; copies and memsets, queued on
// their streams (emu_streams.cpp); and the grid scheduler, which runs a queued launch.
//
// Scheduling. Blocks run one after another in a shuffled order (a kernel must not depend on
// block order). Within a block, each thread is a fiber (ucontext) with its own stack; the
// scheduler resumes the live threads in a freshly shuffled order, each running until it reaches
// __syncthreads() or returns, and starts the next round once all are waiting. Shuffling is what
// makes a missing barrier visible: a thread that reads shared memory another thread writes in
// the same phase reads a stale value for some orders. A barrier reached by some threads of a
// block while others have returned is reported as an error (compute-sanitizer's synccheck
// reports the same). Once the first block of a launch has run without any barrier, the other
// blocks run their threads as plain calls, which is much faster; a barrier met then is an
// error too (it would mean the barrier depends on the block).
//
// The shuffles come from a seeded generator (KNOTNET_EMU_SEED, default 1), so a failure repeats.
#include <ucontext.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "emu_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define KN_EMU_ASAN 1
#endif

uint3 threadIdx;
uint3 blockIdx;
dim3 blockDim;
dim3 gridDim;

namespace kn_emu {
namespace {

// ---- errors ---------------------------------------------------------------------------------

thread_local cudaError_t g_last_error = cudaSuccess;  // per OS thread, as CUDA's is
cudaError_t g_async_error = cudaSuccess;              // under device_lock()

}  // namespace

std::recursive_mutex& device_lock() {
  static std::recursive_mutex m;
  return m;
}

cudaError_t fail(cudaError_t e, const std::string& why) {
  std::fprintf(stderr, "[cuda-emu] %s\n", why.c_str());
  g_last_error = e;
  return e;
}

void fail_async(cudaError_t e, const std::string& why) {
  std::fprintf(stderr, "[cuda-emu] %s\n", why.c_str());
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  if (g_async_error == cudaSuccess) g_async_error = e;
}

cudaError_t async_error() {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  return g_async_error;
}

namespace {

// ---- device memory --------------------------------------------------------------------------

// The live allocations of one kind (device memory, or pinned host memory), by start address.
class AllocationTable {
 public:
  // Exactly `bytes` long, so AddressSanitizer sees any access past the end; nullptr when the
  // host is out of memory.
  void* allocate(size_t bytes, size_t alignment) {
    void* q = nullptr;
    if (posix_memalign(&q, alignment, bytes) != 0) return nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    live_[static_cast<const char*>(q)] = bytes;
    return q;
  }
  // Frees p; false when p is not the start of a live allocation.
  bool release(void* p) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (live_.erase(static_cast<const char*>(p)) == 0) return false;
    }
    std::free(p);
    return true;
  }
  // Whether [p, p + bytes) lies inside one allocation (bytes >= 1).
  bool contains(const void* p, size_t bytes) const {
    const char* c = static_cast<const char*>(p);
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.upper_bound(c);
    if (it == live_.begin()) return false;
    --it;
    return c + bytes <= it->first + it->second;
  }
  size_t total_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t sum = 0;
    for (const auto& [start, bytes] : live_) sum += bytes;
    return sum;
  }

 private:
  mutable std::mutex mutex_;
  std::map<const char*, size_t> live_;
};

AllocationTable& device_memory() {
  static AllocationTable t;
  return t;
}
AllocationTable& pinned_memory() {
  static AllocationTable t;
  return t;
}

}  // namespace

uint64_t seed() {
  const char* s = std::getenv("KNOTNET_EMU_SEED");
  return s && *s ? std::strtoull(s, nullptr, 10) : 1u;
}

bool in_pinned_memory(const void* p, size_t bytes) { return pinned_memory().contains(p, bytes); }

namespace {

bool check_range(const void* p, size_t bytes, const char* what, const char* call) {
  if (bytes == 0 || device_memory().contains(p, bytes)) return true;
  fail(cudaErrorInvalidValue, std::string(call) + ": the " + what + " range of " + std::to_string(bytes) +
                                  " bytes is not inside one device allocation");
  return false;
}

// ---- fibers ---------------------------------------------------------------------------------

uint32_t linear_thread(uint3 t) { return (t.z * blockDim.y + t.y) * blockDim.x + t.x; }

// Kernels are shallow; a small stack also keeps AddressSanitizer's swapcontext interceptor,
// which clears the shadow of the whole stack it switches to, cheap.
constexpr size_t kStackBytes = size_t{64} << 10;

struct Fiber {
  ucontext_t ctx{};
  std::unique_ptr<char[]> stack;
  uint3 tid{};
  bool done = false;
  bool waiting = false;
#ifdef KN_EMU_ASAN
  void* fake_stack = nullptr;
#endif
};

// What a shared array's 4-byte word saw in the block's current barrier interval: racecheck's
// rule is that two threads touching the same word between two barriers, one of them writing,
// race (shared_access below).
struct SharedWord {
  uint64_t written_in = 0, read_in = 0;  // barrier intervals (0: never)
  uint32_t writer = 0, reader = 0;       // the last writer, the first reader in read_in
  bool readers_differ = false;           // another thread read it too in read_in
};

struct SharedArray {
  char* base;
  size_t bytes;
  std::vector<SharedWord> words;
};

struct Scheduler {
  std::vector<std::unique_ptr<Fiber>> fibers;  // reused from launch to launch
  ucontext_t main_ctx{};
  Fiber* current = nullptr;
  const std::function<void()>* body = nullptr;
  bool fiber_mode = false;
  bool barrier_seen = false;
  std::vector<SharedArray> launch_shared;  // the shared arrays this launch declared
  // Races: the block's barrier interval (a new one at each block and each barrier), the thread
  // now running (linear index in its block), and the first race or bad index of the launch.
  uint64_t interval = 0;
  uint32_t thread = 0;
  std::string shared_error;
  std::mt19937_64 rng;
#ifdef KN_EMU_ASAN
  const void* main_stack_bottom = nullptr;
  size_t main_stack_size = 0;
  void* main_fake_stack = nullptr;
#endif

  Scheduler() { rng.seed(kn_emu::seed()); }
};

Scheduler g_sched;  // used under device_lock()

void switch_to_main(Fiber* f, bool finishing) {
#ifdef KN_EMU_ASAN
  __sanitizer_start_switch_fiber(finishing ? nullptr : &f->fake_stack, g_sched.main_stack_bottom,
                                 g_sched.main_stack_size);
#else
  (void)finishing;
#endif
  swapcontext(&f->ctx, &g_sched.main_ctx);
#ifdef KN_EMU_ASAN
  __sanitizer_finish_switch_fiber(f->fake_stack, nullptr, nullptr);
#endif
}

void fiber_entry() {
  Fiber* f = g_sched.current;
#ifdef KN_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g_sched.main_stack_bottom, &g_sched.main_stack_size);
#endif
  (*g_sched.body)();
  f->done = true;
  switch_to_main(f, true);
}

// Resumes fiber f until it waits at a barrier or returns.
void resume(Fiber* f) {
  g_sched.current = f;
  threadIdx = f->tid;
  g_sched.thread = linear_thread(f->tid);
  f->waiting = false;
#ifdef KN_EMU_ASAN
  __sanitizer_start_switch_fiber(&g_sched.main_fake_stack, f->stack.get(), kStackBytes);
#endif
  swapcontext(&g_sched.main_ctx, &f->ctx);
#ifdef KN_EMU_ASAN
  __sanitizer_finish_switch_fiber(g_sched.main_fake_stack, nullptr, nullptr);
#endif
}

uint3 thread_coords(unsigned linear, dim3 block) {
  uint3 t;
  t.x = linear % block.x;
  t.y = (linear / block.x) % block.y;
  t.z = linear / (block.x * block.y);
  return t;
}

// Runs one block with every thread a fiber. Returns what went wrong, or "" when nothing did.
std::string run_block_fibers(unsigned threads, dim3 block) {
  auto& s = g_sched;
  while (s.fibers.size() < threads) {
    auto f = std::make_unique<Fiber>();
    f->stack = std::make_unique<char[]>(kStackBytes);
    s.fibers.push_back(std::move(f));
  }
  for (unsigned t = 0; t < threads; ++t) {
    Fiber* f = s.fibers[t].get();
    f->tid = thread_coords(t, block);
    f->done = f->waiting = false;
    getcontext(&f->ctx);
    f->ctx.uc_stack.ss_sp = f->stack.get();
    f->ctx.uc_stack.ss_size = kStackBytes;
    f->ctx.uc_link = nullptr;
    makecontext(&f->ctx, fiber_entry, 0);
  }
  std::vector<unsigned> order(threads);
  std::iota(order.begin(), order.end(), 0u);
  unsigned live = threads;
  while (live > 0) {
    std::shuffle(order.begin(), order.begin() + live, s.rng);
    for (unsigned i = 0; i < live; ++i) resume(s.fibers[order[i]].get());
    ++s.interval;  // every live thread is at the barrier (or done): the next round is past it
    if (!s.shared_error.empty()) return s.shared_error;
    unsigned waiting = 0, done = 0;
    for (unsigned t = 0; t < threads; ++t) {
      waiting += s.fibers[t]->waiting ? 1 : 0;
      done += s.fibers[t]->done ? 1 : 0;
    }
    if (waiting > 0 && done > 0) {
      return "__syncthreads() reached by " + std::to_string(waiting) + " of " + std::to_string(threads) +
             " threads of block (" + std::to_string(blockIdx.x) + ", " + std::to_string(blockIdx.y) + ", " +
             std::to_string(blockIdx.z) + "); the other " + std::to_string(done) + " had returned";
    }
    // The live threads are those waiting; keep their indices at the front of `order`.
    live = 0;
    for (unsigned t = 0; t < threads; ++t)
      if (!s.fibers[t]->done) order[live++] = t;
  }
  return "";
}

void run_block_direct(unsigned threads, dim3 block, std::vector<unsigned>& order) {
  auto& s = g_sched;
  order.resize(threads);
  std::iota(order.begin(), order.end(), 0u);
  std::shuffle(order.begin(), order.end(), s.rng);
  for (unsigned t : order) {
    threadIdx = thread_coords(t, block);
    s.thread = t;
    (*s.body)();
  }
}

}  // namespace

void use_shared(void* p, size_t bytes) {
  auto& s = g_sched.launch_shared;
  for (const auto& a : s)
    if (a.base == p) return;
  s.push_back(SharedArray{static_cast<char*>(p), bytes, std::vector<SharedWord>((bytes + 3) / 4)});
  std::memset(p, 0xFF, bytes);
}

namespace {

std::string coords(uint32_t linear) {
  const uint3 t = thread_coords(linear, blockDim);
  return "(" + std::to_string(t.x) + ", " + std::to_string(t.y) + ", " + std::to_string(t.z) + ")";
}

void shared_error(const std::string& what) {
  auto& s = g_sched;
  if (!s.shared_error.empty()) return;  // the first one says it
  s.shared_error = what + ", in block (" + std::to_string(blockIdx.x) + ", " + std::to_string(blockIdx.y) + ", " +
                   std::to_string(blockIdx.z) + ")";
}

// One word of one array, touched by the running thread in the current interval.
void check_word(const SharedArray& a, SharedWord& w, size_t index, bool write) {
  auto& s = g_sched;
  const uint64_t now = s.interval;
  const uint32_t me = s.thread;
  const auto where = [&] {
    return "word " + std::to_string(index) + " of a " + std::to_string(a.bytes) + "-byte shared array";
  };
  if (w.written_in == now && w.writer != me)
    shared_error(std::string("shared-memory race: thread ") + coords(me) + (write ? " wrote " : " read ") + where() +
                 " that thread " + coords(w.writer) + " wrote, with no __syncthreads() between");
  if (write && w.read_in == now && (w.reader != me || w.readers_differ))
    shared_error("shared-memory race: thread " + coords(me) + " wrote " + where() + " that thread " +
                 coords(w.reader != me ? w.reader : me) + (w.readers_differ ? " and others" : "") +
                 " read, with no __syncthreads() between");
  if (write) {
    w.written_in = now;
    w.writer = me;
  } else if (w.read_in != now) {
    w.read_in = now;
    w.reader = me;
    w.readers_differ = false;
  } else if (w.reader != me) {
    w.readers_differ = true;
  }
}

}  // namespace

void shared_access(const void* p, size_t bytes, bool write) {
  const char* c = static_cast<const char*>(p);
  for (SharedArray& a : g_sched.launch_shared) {
    if (c < a.base || c + bytes > a.base + a.bytes) continue;
    const size_t first = static_cast<size_t>(c - a.base) / 4, last = (static_cast<size_t>(c - a.base) + bytes - 1) / 4;
    for (size_t i = first; i <= last; ++i) check_word(a, a.words[i], i, write);
    return;
  }
  shared_error("a shared access outside every shared array this launch declared");
}

void shared_index_out_of_range(long long index, size_t extent) {
  shared_error("shared-memory index " + std::to_string(index) + " outside an array dimension of " +
               std::to_string(extent) + " by thread " + coords(g_sched.thread));
}

void syncthreads() {
  auto& s = g_sched;
  s.barrier_seen = true;
  if (!s.fiber_mode) {
    // Direct mode: the first block had no barrier, so this one depends on the block.
    std::fprintf(stderr, "[cuda-emu] __syncthreads() in block (%u, %u, %u), but block 0 of this launch had none\n",
                 blockIdx.x, blockIdx.y, blockIdx.z);
    std::abort();
  }
  Fiber* f = s.current;
  f->waiting = true;
  switch_to_main(f, false);
}

std::string run_grid_now(dim3 grid, dim3 block, const std::function<void()>& thread) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  auto& s = g_sched;
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (s.body != nullptr) {
    std::fprintf(stderr, "[cuda-emu] a kernel launched from inside a kernel\n");
    std::abort();
  }
  gridDim = grid;
  blockDim = block;
  s.body = &thread;
  s.barrier_seen = false;
  s.launch_shared.clear();
  s.shared_error.clear();
  const unsigned long long blocks = 1ull * grid.x * grid.y * grid.z;
  std::vector<unsigned long long> block_order(blocks);
  std::iota(block_order.begin(), block_order.end(), 0ull);
  std::shuffle(block_order.begin(), block_order.end(), s.rng);
  std::vector<unsigned> order;
  bool first = true;
  for (unsigned long long b : block_order) {
    blockIdx.x = static_cast<unsigned>(b % grid.x);
    blockIdx.y = static_cast<unsigned>((b / grid.x) % grid.y);
    blockIdx.z = static_cast<unsigned>(b / (1ull * grid.x * grid.y));
    for (const SharedArray& a : s.launch_shared) std::memset(a.base, 0xFF, a.bytes);
    ++s.interval;  // a new block: nothing of the last one's accesses counts
    if (first || s.barrier_seen) {
      s.fiber_mode = true;
      const std::string error = run_block_fibers(static_cast<unsigned>(threads), block);
      s.fiber_mode = false;
      if (!error.empty()) {
        s.body = nullptr;
        return error;
      }
    } else {
      run_block_direct(static_cast<unsigned>(threads), block, order);
      if (!s.shared_error.empty()) {
        s.body = nullptr;
        return s.shared_error;
      }
    }
    first = false;
  }
  s.body = nullptr;
  return "";
}

// A launch's configuration is checked when it is made (CUDA reports a bad one at once); the
// grid runs when its stream's turn comes, and a failure while it runs is reported by the next
// synchronising call.
void launch_grid(dim3 grid, dim3 block, size_t dynamic_smem, cudaStream_t stream, std::function<void()> thread) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535 || threads == 0 ||
      threads > 1024 || block.z > 64) {
    fail(cudaErrorInvalidConfiguration, "launch with grid (" + std::to_string(grid.x) + ", " + std::to_string(grid.y) +
                                            ", " + std::to_string(grid.z) + ") and block (" + std::to_string(block.x) +
                                            ", " + std::to_string(block.y) + ", " + std::to_string(block.z) +
                                            ") is not a valid configuration");
    return;
  }
  if (dynamic_smem != 0) {
    fail(cudaErrorInvalidValue, "dynamic shared memory is not emulated");
    return;
  }
  enqueue(stream, [grid, block, thread = std::move(thread)] {
    advance_clock(1ull * grid.x * grid.y * grid.z * block.x * block.y * block.z);
    const std::string error = run_grid_now(grid, block, thread);
    if (!error.empty()) fail_async(cudaErrorLaunchFailure, error);
  });
}

}  // namespace kn_emu

using kn_emu::fail;

cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (p == nullptr) return fail(cudaErrorInvalidValue, "cudaMalloc: null pointer");
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  *p = kn_emu::device_memory().allocate(bytes, 256);  // 256-byte aligned, as cudaMalloc's are
  return *p ? cudaSuccess : fail(cudaErrorMemoryAllocation, "cudaMalloc: out of memory");
}

// cudaFree and cudaFreeHost wait for all queued work first, as CUDA's do.
cudaError_t cudaFree(void* p) {
  if (p == nullptr) return cudaSuccess;
  kn_emu::wait_for_all();
  if (kn_emu::device_memory().release(p)) return cudaSuccess;
  return fail(cudaErrorInvalidDevicePointer, "cudaFree of a pointer cudaMalloc did not return");
}

namespace {

// Checks a copy's ranges and queues it on `stream`. A source in pageable host memory is read
// now (CUDA stages it before the call returns, so the caller may reuse it); a source in device or
// pinned memory is read when the copy runs. Returns the copy's id, or 0 after an error.
// cudaMemcpyDefault (the kind inferred from the pointers) is not emulated: it is refused.
uint64_t queue_copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream,
                    const char* call) {
  if (kind != cudaMemcpyHostToDevice && kind != cudaMemcpyDeviceToHost && kind != cudaMemcpyDeviceToDevice) {
    kn_emu::fail(cudaErrorInvalidValue, std::string(call) + ": only host-to-device, device-to-host and "
                                                            "device-to-device copies are emulated");
    return 0;
  }
  const bool dst_dev = kind != cudaMemcpyDeviceToHost;
  const bool src_dev = kind != cudaMemcpyHostToDevice;
  if (dst_dev && !kn_emu::check_range(dst, bytes, "destination", call)) return 0;
  if (src_dev && !kn_emu::check_range(src, bytes, "source", call)) return 0;
  std::shared_ptr<std::vector<char>> staged;
  if (!src_dev && bytes > 0 && !kn_emu::in_pinned_memory(src, bytes)) {
    const char* c = static_cast<const char*>(src);
    staged = std::make_shared<std::vector<char>>(c, c + bytes);
  }
  return kn_emu::enqueue(stream, [dst, src, bytes, staged] {
    if (bytes) std::memmove(dst, staged ? staged->data() : src, bytes);
  });
}

}  // namespace

// On the legacy default stream. The host waits as CUDA's "API synchronization behavior" says:
// for a copy into host memory and for one from pinned memory, but not for one from pageable
// memory (staged, then queued) nor for a device-to-device copy.
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  const uint64_t id = queue_copy(dst, src, bytes, kind, nullptr, "cudaMemcpy");
  if (id == 0) return cudaErrorInvalidValue;
  const bool waits = kind == cudaMemcpyDeviceToHost ||
                     (kind == cudaMemcpyHostToDevice && bytes > 0 && kn_emu::in_pinned_memory(src, bytes));
  if (waits) kn_emu::wait_for(id);
  return kn_emu::async_error();
}

// Into pageable host memory the host waits for the copy, as in CUDA; otherwise it only queues it.
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  const uint64_t id = queue_copy(dst, src, bytes, kind, stream, "cudaMemcpyAsync");
  if (id == 0) return cudaErrorInvalidValue;
  if (kind == cudaMemcpyDeviceToHost && bytes > 0 && !kn_emu::in_pinned_memory(dst, bytes)) kn_emu::wait_for(id);
  return cudaSuccess;
}

// Asynchronous on device memory, on the legacy default stream, as in CUDA.
cudaError_t cudaMemset(void* p, int value, size_t bytes) { return cudaMemsetAsync(p, value, bytes, nullptr); }

cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t stream) {
  if (!kn_emu::check_range(p, bytes, "destination", "cudaMemset")) return cudaErrorInvalidValue;
  kn_emu::enqueue(stream, [p, value, bytes] {
    if (bytes) std::memset(p, value, bytes);
  });
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = kn_emu::g_last_error;
  kn_emu::g_last_error = cudaSuccess;
  return e != cudaSuccess ? e : kn_emu::async_error();
}

cudaError_t cudaPeekAtLastError() {
  return kn_emu::g_last_error != cudaSuccess ? kn_emu::g_last_error : kn_emu::async_error();
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorCudartUnloading: return "cudaErrorCudartUnloading";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaSuccess ? "no error" : "error reported by the CUDA emulator (details on stderr)";
}

cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}

namespace {
constexpr size_t kEmuDeviceBytes = size_t{80} << 30;
}  // namespace


cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : fail(cudaErrorInvalidValue, "cudaSetDevice: the emulator has device 0 only");
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return fail(cudaErrorInvalidValue, "cudaGetDeviceProperties: the emulator has device 0 only");
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "CUDA emulator (CPU)");
  prop->major = 9;
  prop->minor = 0;
  prop->totalGlobalMem = kEmuDeviceBytes;
  prop->multiProcessorCount = 132;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetPCIBusId(char* bus, int len, int device) {
  if (device != 0 || len < 1) return cudaErrorInvalidValue;
  std::snprintf(bus, static_cast<size_t>(len), "emulator");
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* version) {
  *version = 0;
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  const size_t used = kn_emu::device_memory().total_bytes();
  *total = kEmuDeviceBytes;
  *free = used < kEmuDeviceBytes ? kEmuDeviceBytes - used : 0;
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned) {
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  *p = kn_emu::pinned_memory().allocate(bytes, 4096);
  return *p ? cudaSuccess : fail(cudaErrorMemoryAllocation, "cudaHostAlloc: out of memory");
}
cudaError_t cudaMallocHost(void** p, size_t bytes) { return cudaHostAlloc(p, bytes, cudaHostAllocDefault); }
cudaError_t cudaFreeHost(void* p) {
  if (p == nullptr) return cudaSuccess;
  kn_emu::wait_for_all();
  if (kn_emu::pinned_memory().release(p)) return cudaSuccess;
  return fail(cudaErrorInvalidValue, "cudaFreeHost of a pointer cudaHostAlloc did not return");
}
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attr, const void* p) {
  *attr = cudaPointerAttributes{cudaMemoryTypeUnregistered, 0, nullptr, nullptr};
  if (kn_emu::device_memory().contains(p, 1)) {
    attr->type = cudaMemoryTypeDevice;
    attr->devicePointer = const_cast<void*>(p);
  } else if (kn_emu::pinned_memory().contains(p, 1)) {
    attr->type = cudaMemoryTypeHost;
    attr->hostPointer = attr->devicePointer = const_cast<void*>(p);
  } else {
    attr->hostPointer = const_cast<void*>(p);
  }
  return cudaSuccess;
}
