#include "engine/memory_resource.h"

#include <cstdlib>
#include <cstring>

#include "engine/format.h"
#include "engine/memory_plan.h"

#ifdef KNOTNET_HAVE_CUDA
#include "engine/cuda_check.h"
#endif

namespace knotnet {

namespace {

class HostResource final : public MemoryResource {
 public:
  Device device() const override { return Device::cpu; }
  void* allocate(size_t bytes, const std::string& what) override {
    const size_t a = MemoryPlan::kDefaultAlign;
    void* p = std::aligned_alloc(a, (bytes + a - 1) / a * a);
    KN_CHECK(p, "cannot allocate ", format_bytes(bytes), " of host memory for ", what);
    return p;
  }
  void deallocate(void* p) noexcept override { std::free(p); }
  void poison(void* p, size_t bytes) override { std::memset(p, 0xFF, bytes); }
};

#ifdef KNOTNET_HAVE_CUDA
class CudaResource final : public MemoryResource {
 public:
  Device device() const override { return Device::cuda; }
  void* allocate(size_t bytes, const std::string& what) override {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();  // an out-of-memory error is not sticky: clear it and report
      size_t free = 0, total = 0;
      cudaMemGetInfo(&free, &total);
      KN_THROW("cannot allocate ", format_bytes(bytes), " of GPU memory for ", what, ": ", cudaGetErrorString(e),
               " (the card has ", format_bytes(free), " free of ", format_bytes(total), ")");
    }
    return p;
  }
  void deallocate(void* p) noexcept override { cudaFree(p); }
  void poison(void* p, size_t bytes) override {
    KN_CUDA_CHECK(cudaMemset(p, 0xFF, bytes));
    // The poison is written on the legacy default stream, which the engine's non-blocking
    // streams do not wait for: finish it here, once, before anything else writes the memory.
    KN_CUDA_CHECK(cudaDeviceSynchronize());
  }
};
#endif

}  // namespace

MemoryResource& host_memory_resource() {
  static HostResource host;
  return host;
}

MemoryResource& cuda_memory_resource() {
#ifdef KNOTNET_HAVE_CUDA
  static CudaResource cuda;
  return cuda;
#else
  KN_THROW("this build of knotnet has no CUDA backend; use --device cpu");
#endif
}

MemoryResource& memory_resource(Device device) {
  return device == Device::cuda ? cuda_memory_resource() : host_memory_resource();
}

}  // namespace knotnet
