// Host memory for the reader's batch ring, behind an allocator interface so that the CUDA
// backend can hand in page-locked memory (cudaHostAlloc) without the reader knowing about CUDA.
// The default allocator returns page-aligned memory and touches every page once, so that the
// reader's resident memory is paid at construction and stays flat while it runs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace knotnet {

class HostAllocator {
 public:
  virtual ~HostAllocator() = default;
  // At least `bytes` bytes, aligned to 64 bytes or more; throws knotnet::Error when it cannot.
  virtual void* allocate(size_t bytes) = 0;
  // Frees memory from allocate(); never throws.
  virtual void deallocate(void* p, size_t bytes) noexcept = 0;
  // "aligned host", "pinned (cudaHostAlloc)", ... for logs and inspect.
  virtual const char* name() const = 0;
};

// Page-aligned pageable memory (std::aligned_alloc); the allocator used without CUDA.
HostAllocator& aligned_host_allocator();

// One allocation from a HostAllocator, freed on destruction. Movable, not copyable.
class HostBuffer {
 public:
  HostBuffer() = default;
  HostBuffer(HostAllocator& allocator, size_t bytes);
  ~HostBuffer();
  HostBuffer(HostBuffer&& o) noexcept;
  HostBuffer& operator=(HostBuffer&& o) noexcept;
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return bytes_; }

 private:
  void release() noexcept;
  HostAllocator* allocator_ = nullptr;
  uint8_t* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace knotnet
