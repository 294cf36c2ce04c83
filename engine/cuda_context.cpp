#include "engine/cuda_context.h"

#include "engine/device_memory.h"
#include "engine/gpu_memory_probe.h"

#ifdef KNOTNET_HAVE_CUDA
#include <unistd.h>

#include "engine/cuda_check.h"
#endif

namespace knotnet {

bool cuda_device_present() {
#ifdef KNOTNET_HAVE_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error so later calls start clean
    return false;
  }
  return n > 0;
#else
  return false;
#endif
}

Device resolve_device(const std::string& name) {
  if (name == "auto") return cuda_device_present() ? Device::cuda : Device::cpu;
  KN_CHECK(name == "cpu" || name == "cuda", "unknown device '", name, "': expected auto, cpu or cuda");
  const Device d = parse_device(name);
  if (d == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    KN_CHECK(cuda_device_present(), "--device cuda: no CUDA device is visible on this machine; use --device cpu");
#else
    KN_THROW("--device cuda: this build of knotnet has no CUDA backend (configure with -DKNOTNET_CUDA=ON); "
             "use --device cpu");
#endif
  }
  return d;
}

#ifdef KNOTNET_HAVE_CUDA

CudaContext& CudaContext::get() {
  // Made once (thread-safe; a throw leaves it to be retried) and never destroyed: cuDNN 9 loads
  // its sub-libraries lazily, so their static state dies before a static CudaContext would, and
  // cudnnDestroy at exit could touch freed memory. The driver releases everything at exit.
  static CudaContext* context = new CudaContext();
  return *context;
}

CudaContext::CudaContext() {
  KN_CHECK(cuda_device_present(), "the CUDA backend needs a CUDA device, and none is visible");
  // Neither the device's properties nor its PCI id need a context: read them first, then the
  // card's used memory through NVML, before cudaSetDevice makes the primary context.
  cudaDeviceProp prop{};
  KN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
  name_ = prop.name;
  cc_major_ = prop.major;
  char bus[32] = {};
  if (cudaDeviceGetPCIBusId(bus, sizeof bus, device_) == cudaSuccess) pci_bus_id_ = bus;
  const GpuMemoryProbe& probe = GpuMemoryProbe::get();
  const auto before = probe.device_usage(pci_bus_id_);
  KN_CUDA_CHECK(cudaSetDevice(device_));
  KN_CUDA_CHECK(cudaFree(nullptr));  // the context exists from here on
  size_t free_with_context = 0, total = 0;
  KN_CUDA_CHECK(cudaMemGetInfo(&free_with_context, &total));
  try {
    KN_CUDA_CHECK(cudaStreamCreateWithFlags(&compute_, cudaStreamNonBlocking));
    KN_CUDA_CHECK(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking));
    KN_CUDNN_CHECK(cudnnCreate(&cudnn_));
    KN_CUDNN_CHECK(cudnnSetStream(cudnn_, compute_));
  } catch (...) {
    release();  // a later get() retries from scratch
    throw;
  }
  const auto after = probe.device_usage(pci_bus_id_);
  // This process's own figure first: the card's used memory also moves with whatever other
  // processes allocate meanwhile (three runs started together on an H100 were charged 1.54,
  // 1.54 and 0.57 GiB). Nothing else of this process is on the card yet. A figure above the
  // card's growth (plus 64 MiB) is another process's: in a container without the host's PID
  // namespace NVML lists host PIDs, and one may equal ours.
  const auto own = probe.process_used(static_cast<long>(getpid()), pci_bus_id_);
  const bool card_seen = before && after;
  const size_t growth = card_seen && after->used > before->used ? after->used - before->used : 0;
  if (own && (!card_seen || *own <= growth + (size_t{64} << 20))) {
    context_bytes_ = *own;
    context_method_ = "NVML: this process's device memory after the cuDNN handle";
  } else if (card_seen) {
    context_bytes_ = growth;
    context_method_ = own ? "NVML: the card's used memory before the context and after the cuDNN handle (NVML's "
                            "figure for this PID is larger: another process's)"
                          : "NVML: the card's used memory before the context and after the cuDNN handle (NVML does "
                            "not list this process)";
  } else {
    size_t free_now = 0;
    KN_CUDA_CHECK(cudaMemGetInfo(&free_now, &total));
    context_bytes_ = free_with_context > free_now ? free_with_context - free_now : 0;
    context_method_ = "cudaMemGetInfo: the streams and cuDNN handle only; the context itself is not measured (" +
                      probe.why_unavailable() + ")";
  }
}

void CudaContext::release() noexcept {
  if (cudnn_) cudnnDestroy(cudnn_);
  if (copy_) cudaStreamDestroy(copy_);
  if (compute_) cudaStreamDestroy(compute_);
  cudnn_ = nullptr;
  copy_ = compute_ = nullptr;
}

void CudaContext::sync_compute() const { KN_CUDA_CHECK(cudaStreamSynchronize(compute_)); }

#endif

DeviceMemory query_device_memory() {
#ifdef KNOTNET_HAVE_CUDA
  KN_CHECK(cuda_device_present(), "no CUDA device is visible; give the card's size with --device-memory to plan without one");
  const CudaContext& ctx = CudaContext::get();
  DeviceMemory d;
  KN_CUDA_CHECK(cudaMemGetInfo(&d.free, &d.total));
  d.context = ctx.context_bytes();
  d.context_method = ctx.context_method();
  d.cc_major = ctx.cc_major();
  return d;
#else
  KN_THROW("this build has no CUDA backend; give the card's size with --device-memory to plan without a GPU");
#endif
}

}  // namespace knotnet
