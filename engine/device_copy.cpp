#include "engine/device_copy.h"

#include <cstring>

#ifdef KNOTNET_HAVE_CUDA
#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#endif

namespace knotnet {

namespace {

#ifdef KNOTNET_HAVE_CUDA
cudaStream_t compute_stream() { return CudaContext::get().compute(); }
#else
[[noreturn]] void no_cuda(const char* what) {
  KN_THROW(what, ": the tensor is on the GPU, but this build of knotnet has no CUDA backend");
}
#endif

}  // namespace

void copy_to_host(const Tensor& t, void* dst) {
  if (t.bytes() == 0) return;
  if (t.device == Device::cpu) {
    std::memcpy(dst, t.data, t.bytes());
    return;
  }
#ifdef KNOTNET_HAVE_CUDA
  KN_CUDA_CHECK(cudaMemcpyAsync(dst, t.data, t.bytes(), cudaMemcpyDeviceToHost, compute_stream()));
  CudaContext::get().sync_compute();
#else
  no_cuda("copy_to_host");
#endif
}

void copy_from_host(const void* src, const Tensor& t) {
  if (t.bytes() == 0) return;
  copy_from_host_async(src, t);
  wait_compute(t.device);
}

void copy_from_host_async(const void* src, const Tensor& t) {
  if (t.bytes() == 0) return;
  if (t.device == Device::cpu) {
    std::memcpy(t.data, src, t.bytes());
    return;
  }
#ifdef KNOTNET_HAVE_CUDA
  KN_CUDA_CHECK(cudaMemcpyAsync(t.data, src, t.bytes(), cudaMemcpyHostToDevice, compute_stream()));
#else
  no_cuda("copy_from_host");
#endif
}

void copy_tensor_async(const Tensor& from, const Tensor& to) {
  KN_CHECK(from.bytes() == to.bytes() && from.device == to.device, "copy between ", from.describe(), " and ",
           to.describe(), ": sizes or devices differ");
  if (from.bytes() == 0 || from.data == to.data) return;
  if (from.device == Device::cpu) {
    std::memcpy(to.data, from.data, from.bytes());
    return;
  }
#ifdef KNOTNET_HAVE_CUDA
  KN_CUDA_CHECK(cudaMemcpyAsync(to.data, from.data, from.bytes(), cudaMemcpyDeviceToDevice, compute_stream()));
#else
  no_cuda("copy_tensor");
#endif
}

void zero_fill_async(const Tensor& t) {
  if (t.bytes() == 0) return;
  if (t.device == Device::cpu) {
    std::memset(t.data, 0, t.bytes());
    return;
  }
#ifdef KNOTNET_HAVE_CUDA
  KN_CUDA_CHECK(cudaMemsetAsync(t.data, 0, t.bytes(), compute_stream()));
#else
  no_cuda("zero_fill");
#endif
}

void wait_compute(Device device) {
  if (device == Device::cpu) return;
#ifdef KNOTNET_HAVE_CUDA
  CudaContext::get().sync_compute();
#else
  no_cuda("wait_compute");
#endif
}

}  // namespace knotnet
