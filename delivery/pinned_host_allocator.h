// Page-locked host memory (cudaHostAlloc) for the reader's batch ring, so that copies out of it
// run asynchronously at full bus speed. Pass it as ReaderOptions::allocator.
#pragma once

#include "io/host_buffer.h"

namespace knotnet {

// The process's pinned allocator. allocate() throws knotnet::Error when cudaHostAlloc fails (or
// in a build without CUDA); deallocate() never throws.
HostAllocator& pinned_host_allocator();

}  // namespace knotnet
