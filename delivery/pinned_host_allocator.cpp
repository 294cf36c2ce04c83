// cudaHostAlloc / cudaFreeHost behind the reader's HostAllocator interface. The one non-obvious
// choice: deallocate() is noexcept by contract, so a failing cudaFreeHost is reported on stderr
// instead of thrown (a throw there would terminate the process during the reader's teardown).
#include "delivery/pinned_host_allocator.h"

#include <cstdio>

#include "engine/error.h"
#include "engine/format.h"

#ifdef KNOTNET_HAVE_CUDA
#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#endif

namespace knotnet {

namespace {

class PinnedHostAllocator final : public HostAllocator {
 public:
  void* allocate(size_t bytes) override {
#ifdef KNOTNET_HAVE_CUDA
    CudaContext::get();  // the device is chosen (and checked) before the first pinned allocation
    void* p = nullptr;
    // cudaHostAlloc returns page-aligned memory, which is more than the 64 bytes asked for.
    KN_CUDA_CHECK(cudaHostAlloc(&p, bytes > 0 ? bytes : 1, cudaHostAllocDefault));
    return p;
#else
    KN_THROW("cannot allocate ", format_bytes(bytes),
             " of pinned host memory: this build of knotnet has no CUDA backend");
#endif
  }
  void deallocate(void* p, size_t) noexcept override {
#ifdef KNOTNET_HAVE_CUDA
    if (!p) return;
    const cudaError_t e = cudaFreeHost(p);
    if (e != cudaSuccess && e != cudaErrorCudartUnloading)
      std::fprintf(stderr, "warning: cudaFreeHost failed: %s\n", cudaGetErrorString(e));
#else
    (void)p;
#endif
  }
  const char* name() const override { return "pinned (cudaHostAlloc)"; }
};

}  // namespace

HostAllocator& pinned_host_allocator() {
  static PinnedHostAllocator allocator;
  return allocator;
}

}  // namespace knotnet
