#include "engine/arena.h"

#include <atomic>
#include <utility>

#include "engine/format.h"

namespace knotnet {

namespace {
std::atomic<long> g_allocations{0};
constexpr size_t kMiB = size_t(1) << 20;
}  // namespace

Arena::Arena(const MemoryPlan& plan, MemoryResource& memory) : Arena(plan, memory, AllocOptions{}, DeviceMemory{}) {}

Arena::Arena(const MemoryPlan& plan, MemoryResource& memory, const AllocOptions& policy, const DeviceMemory& card,
             size_t growth_cap)
    : memory_(&memory), device_(memory.device()) {
  KN_CHECK(plan.finalized(), "an arena needs a finalized plan");
  const size_t need = plan.total_bytes();
  switch (policy.policy) {
    case AllocPolicy::planned:
      take_block(plan, need, "the memory plan");
      return;
    case AllocPolicy::growth:
      take_per_buffer(plan, growth_cap);
      return;
    case AllocPolicy::preallocate: {
      KN_CHECK(device_ == Device::cuda || card.total > 0,
               "--alloc preallocate needs a GPU; on the CPU use planned or growth");
      const size_t reserve = tensorflow_system_reserve(card.free, card.cc_major);
      // Whole MiB, as the frameworks take it.
      const size_t block = card.free > reserve ? (card.free - reserve) / kMiB * kMiB : 0;
      KN_CHECK(block >= need, "--alloc preallocate: all free GPU memory but the system reserve is ",
               format_bytes(block), " (free ", format_bytes(card.free), ", reserve ", format_bytes(reserve),
               "), less than the plan's ", format_bytes(need), "; nothing was allocated");
      take_block(plan, block, "--alloc preallocate (all free memory but " + format_bytes(reserve) + ")");
      return;
    }
    case AllocPolicy::fraction: {
      KN_CHECK(device_ == Device::cuda || card.total > 0, "--alloc ", policy.str(),
               " needs a GPU; on the CPU use planned or growth");
      const size_t block = static_cast<size_t>(policy.fraction * double(card.total)) / kMiB * kMiB;
      KN_CHECK(block >= need, "--alloc ", policy.str(), ": ", format_bytes(block), " of the card's ",
               format_bytes(card.total), " is less than the plan's ", format_bytes(need), "; nothing was allocated");
      KN_CHECK(block <= card.free, "--alloc ", policy.str(), ": ", format_bytes(block), " of the card's ",
               format_bytes(card.total), " is more than the ", format_bytes(card.free),
               " free (other processes hold the rest); nothing was allocated");
      take_block(plan, block, "--alloc " + policy.str() + " of the card");
      return;
    }
  }
}

void Arena::take_block(const MemoryPlan& plan, size_t bytes, const std::string& what) {
  if (bytes == 0) return;
  void* p = memory_->allocate(bytes, what);
  blocks_.push_back(p);
  held_ = bytes;
  ++g_allocations;
  // Only what the plan uses is poisoned: a preallocated block may be most of the card.
  memory_->poison(p, plan.total_bytes());
}

void Arena::take_per_buffer(const MemoryPlan& plan, size_t cap) {
  buffers_.assign(plan.size(), nullptr);
  try {
    for (size_t id = 0; id < plan.size(); ++id) {
      const BufferDecl& b = plan.buffer(static_cast<MemoryPlan::Id>(id));
      if (b.bytes == 0) continue;
      if (cap > 0 && held_ + b.bytes > cap)
        KN_THROW("--alloc growth: buffer '", b.name, "' (", format_bytes(b.bytes), ") would take the total past the ",
                 format_bytes(cap), " limit; ", format_bytes(held_), " already held by ", blocks_.size(),
                 " buffers");
      void* p = memory_->allocate(b.bytes, "buffer '" + b.name + "' (--alloc growth, " + format_bytes(held_) +
                                               " already held)");
      blocks_.push_back(p);
      buffers_[id] = static_cast<char*>(p);
      held_ += b.bytes;
      ++g_allocations;
      memory_->poison(p, b.bytes);
    }
  } catch (...) {
    release();
    throw;
  }
}

Arena::~Arena() { release(); }

Arena::Arena(Arena&& o) noexcept
    : memory_(o.memory_),
      device_(o.device_),
      blocks_(std::exchange(o.blocks_, {})),
      buffers_(std::exchange(o.buffers_, {})),
      held_(std::exchange(o.held_, 0)) {}

Arena& Arena::operator=(Arena&& o) noexcept {
  if (this != &o) {
    release();
    memory_ = o.memory_;
    device_ = o.device_;
    blocks_ = std::exchange(o.blocks_, {});
    buffers_ = std::exchange(o.buffers_, {});
    held_ = std::exchange(o.held_, 0);
  }
  return *this;
}

void Arena::release() noexcept {
  for (void* p : blocks_) memory_->deallocate(p);
  blocks_.clear();
  buffers_.clear();
  held_ = 0;
}

Tensor Arena::view(const MemoryPlan& plan, MemoryPlan::Id id) const {
  const BufferDecl& b = plan.buffer(id);
  KN_CHECK(allocated(), "buffer '", b.name, "': the arena holds no memory");
  if (!buffers_.empty()) {
    KN_CHECK(static_cast<size_t>(id) < buffers_.size() && (buffers_[id] || b.bytes == 0), "buffer '", b.name,
             "' is not in this arena");
    return Tensor(buffers_[id], b.shape, b.dtype, device_);
  }
  const size_t off = plan.offset(id);
  KN_CHECK(off + b.bytes <= held_, "buffer '", b.name, "' lies outside the arena");
  return Tensor(static_cast<char*>(blocks_.front()) + off, b.shape, b.dtype, device_);
}

long Arena::allocation_count() { return g_allocations.load(); }

}  // namespace knotnet
