#include "engine/cuda_context.h"

#ifdef KNOTNET_HAVE_CUDA
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
  static CudaContext context;  // thread-safe initialisation; a throw leaves it to be retried
  return context;
}

CudaContext::CudaContext() {
  KN_CHECK(cuda_device_present(), "the CUDA backend needs a CUDA device, and none is visible");
  KN_CUDA_CHECK(cudaSetDevice(device_));
  cudaDeviceProp prop{};
  KN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
  name_ = prop.name;
  KN_CUDA_CHECK(cudaStreamCreateWithFlags(&compute_, cudaStreamNonBlocking));
  KN_CUDA_CHECK(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking));
  KN_CUDNN_CHECK(cudnnCreate(&cudnn_));
  KN_CUDNN_CHECK(cudnnSetStream(cudnn_, compute_));
}

CudaContext::~CudaContext() {
  // At process exit the driver may already be shutting down: statuses are ignored.
  if (cudnn_) cudnnDestroy(cudnn_);
  if (copy_) cudaStreamDestroy(copy_);
  if (compute_) cudaStreamDestroy(compute_);
}

void CudaContext::sync_compute() const { KN_CUDA_CHECK(cudaStreamSynchronize(compute_)); }

#endif

}  // namespace knotnet
