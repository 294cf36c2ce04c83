// One allocation that backs a finalized MemoryPlan. Host arenas are 256-byte aligned heap
// memory; CUDA arenas come from a single cudaMalloc. The arena is filled with 0xFF bytes (NaN
// for floats) when made, so a kernel that reads a buffer nobody wrote shows up as NaN in tests.
#pragma once

#include <cstddef>

#include "engine/memory_plan.h"
#include "engine/tensor.h"

namespace knotnet {

class Arena {
 public:
  Arena() = default;
  Arena(size_t bytes, Device device);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&& o) noexcept;
  Arena& operator=(Arena&& o) noexcept;

  void* base() const { return base_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  // The view of one planned buffer.
  Tensor view(const MemoryPlan& plan, MemoryPlan::Id id) const;

  // Allocations made by arenas since start: what tests read to prove that a training step
  // allocates nothing.
  static long allocation_count();

 private:
  void release() noexcept;
  void* base_ = nullptr;
  size_t bytes_ = 0;
  Device device_ = Device::cpu;
};

}  // namespace knotnet
