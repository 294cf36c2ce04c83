#include "engine/arena.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <utility>

#ifdef KNOTNET_HAVE_CUDA
#include "engine/cuda_check.h"
#endif

namespace knotnet {

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

Arena::Arena(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (bytes == 0) return;
  if (device == Device::cpu) {
    size_t rounded = (bytes + MemoryPlan::kDefaultAlign - 1) / MemoryPlan::kDefaultAlign * MemoryPlan::kDefaultAlign;
    base_ = std::aligned_alloc(MemoryPlan::kDefaultAlign, rounded);
    KN_CHECK(base_, "cannot allocate ", format_bytes(bytes), " of host memory for the arena");
    std::memset(base_, 0xFF, bytes);
  } else {
#ifdef KNOTNET_HAVE_CUDA
    KN_CUDA_CHECK(cudaMalloc(&base_, bytes));
    KN_CUDA_CHECK(cudaMemset(base_, 0xFF, bytes));
    // The poison is written on the legacy default stream, which the engine's non-blocking
    // streams do not wait for: finish it here, once, before anything else writes the arena.
    KN_CUDA_CHECK(cudaDeviceSynchronize());
#else
    KN_THROW("this build of knotnet has no CUDA backend; use --device cpu");
#endif
  }
  ++g_allocations;
}

Arena::~Arena() { release(); }

Arena::Arena(Arena&& o) noexcept
    : base_(std::exchange(o.base_, nullptr)), bytes_(std::exchange(o.bytes_, 0)), device_(o.device_) {}

Arena& Arena::operator=(Arena&& o) noexcept {
  if (this != &o) {
    release();
    base_ = std::exchange(o.base_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
    device_ = o.device_;
  }
  return *this;
}

void Arena::release() noexcept {
  if (!base_) return;
  if (device_ == Device::cpu) {
    std::free(base_);
  } else {
#ifdef KNOTNET_HAVE_CUDA
    cudaFree(base_);
#endif
  }
  base_ = nullptr;
}

Tensor Arena::view(const MemoryPlan& plan, MemoryPlan::Id id) const {
  const BufferDecl& b = plan.buffer(id);
  size_t off = plan.offset(id);
  KN_CHECK(off + b.bytes <= bytes_, "buffer '", b.name, "' lies outside the arena");
  return Tensor(static_cast<char*>(base_) + off, b.shape, b.dtype, device_);
}

long Arena::allocation_count() { return g_allocations.load(); }

}  // namespace knotnet
