// The memory behind a finalized MemoryPlan, taken from a MemoryResource (host, CUDA, or a
// pretend card in tests) as an AllocPolicy says (engine/alloc_policy.h):
//   - one block, at least the plan's total, carved by the plan's offsets (planned, preallocate,
//     fraction=F);
//   - one allocation per buffer, with no lifetime sharing (growth).
// Everything is filled with 0xFF bytes (NaN for floats) when taken, so a kernel that reads a
// buffer nobody wrote shows up as NaN in tests.
#pragma once

#include <cstddef>
#include <vector>

#include "engine/alloc_policy.h"
#include "engine/device_memory.h"
#include "engine/memory_plan.h"
#include "engine/memory_resource.h"
#include "engine/tensor.h"

namespace knotnet {

class Arena {
 public:
  Arena() = default;
  // The plan's exact total in one block (the planned policy).
  Arena(const MemoryPlan& plan, MemoryResource& memory);
  // As `policy` says. `card`: the device's memory (preallocate and fraction size their block from
  // it). `growth_cap` > 0: growth refuses the buffer that would take its total past it, naming it.
  // Throws before taking anything when the plan cannot fit the policy's block.
  Arena(const MemoryPlan& plan, MemoryResource& memory, const AllocOptions& policy, const DeviceMemory& card,
        size_t growth_cap = 0);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&& o) noexcept;
  Arena& operator=(Arena&& o) noexcept;

  bool allocated() const { return !blocks_.empty(); }
  // Bytes taken from the resource (a block may be larger than the plan needs).
  size_t held_bytes() const { return held_; }
  Device device() const { return device_; }
  // The view of one planned buffer.
  Tensor view(const MemoryPlan& plan, MemoryPlan::Id id) const;

  // Allocations made by arenas since start (blocks and per-buffer allocations): what tests read
  // to prove that a training step allocates nothing.
  static long allocation_count();

 private:
  void take_block(const MemoryPlan& plan, size_t bytes, const std::string& what);
  void take_per_buffer(const MemoryPlan& plan, size_t cap);
  void release() noexcept;

  MemoryResource* memory_ = nullptr;
  Device device_ = Device::cpu;
  std::vector<void*> blocks_;
  std::vector<char*> buffers_;  // growth: each buffer's own allocation, by id; else empty
  size_t held_ = 0;
};

}  // namespace knotnet
