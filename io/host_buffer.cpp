// Page-aligned host buffers for the batch ring (see host_buffer.h).
#include "io/host_buffer.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#include "engine/error.h"
#include "engine/format.h"

namespace knotnet {

namespace {

constexpr size_t kPage = 4096;

class AlignedHostAllocator final : public HostAllocator {
 public:
  void* allocate(size_t bytes) override {
    size_t rounded = (bytes + kPage - 1) / kPage * kPage;
    if (rounded == 0) rounded = kPage;
    void* p = std::aligned_alloc(kPage, rounded);
    KN_CHECK(p != nullptr, "cannot allocate ", format_bytes(bytes), " of host memory for the batch reader");
    // Touch every page now: resident memory is paid up front, not in the middle of an epoch.
    std::memset(p, 0, rounded);
    return p;
  }
  void deallocate(void* p, size_t) noexcept override { std::free(p); }
  const char* name() const override { return "aligned host"; }
};

}  // namespace

HostAllocator& aligned_host_allocator() {
  static AlignedHostAllocator allocator;
  return allocator;
}

HostBuffer::HostBuffer(HostAllocator& allocator, size_t bytes)
    : allocator_(&allocator), data_(static_cast<uint8_t*>(allocator.allocate(bytes))), bytes_(bytes) {}

HostBuffer::~HostBuffer() { release(); }

HostBuffer::HostBuffer(HostBuffer&& o) noexcept
    : allocator_(std::exchange(o.allocator_, nullptr)),
      data_(std::exchange(o.data_, nullptr)),
      bytes_(std::exchange(o.bytes_, 0)) {}

HostBuffer& HostBuffer::operator=(HostBuffer&& o) noexcept {
  if (this != &o) {
    release();
    allocator_ = std::exchange(o.allocator_, nullptr);
    data_ = std::exchange(o.data_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void HostBuffer::release() noexcept {
  if (data_ && allocator_) allocator_->deallocate(data_, bytes_);
  data_ = nullptr;
  bytes_ = 0;
}

}  // namespace knotnet
