// Where an Arena's bytes come from: host memory (256-byte aligned heap), the CUDA device
// (cudaMalloc), or, in tests, a pretend card of a given size. A resource only allocates and
// frees; how much to take and how to carve it is the Arena's (and its AllocPolicy's) business.
#pragma once

#include <cstddef>
#include <string>

#include "engine/tensor.h"

namespace knotnet {

class MemoryResource {
 public:
  virtual ~MemoryResource() = default;
  virtual Device device() const = 0;
  // `bytes` of memory for `what` (a name for messages). Throws an Error that names `what`, the
  // size and what the memory holds when it cannot.
  virtual void* allocate(size_t bytes, const std::string& what) = 0;
  virtual void deallocate(void* p) noexcept = 0;
  // Fills with 0xFF bytes (NaN as floats), finished when this returns.
  virtual void poison(void* p, size_t bytes) = 0;
};

// The process's host resource, and its CUDA resource (throws in a build without CUDA).
MemoryResource& host_memory_resource();
MemoryResource& cuda_memory_resource();
MemoryResource& memory_resource(Device device);

}  // namespace knotnet
