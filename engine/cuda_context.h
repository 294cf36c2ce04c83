// The process's CUDA state: the device, the compute stream every kernel of a step runs on, a
// second stream for the reader's host-to-device copies, and the cuDNN handle (bound to the
// compute stream). Made lazily on first use, on device 0, and kept until exit.
//
// Its making is measured, once the streams and the cuDNN handle exist: as this process's device
// memory where NVML lists the process (nothing else is allocated yet, if get() made the context)
// with no more than the card grew by, else as the card's used
// memory (NVML, which needs no context) after against before the context, which also counts
// what other processes allocate meanwhile. Without NVML the context itself cannot be seen
// (cudaMemGetInfo needs one): then only the library handles are measured, from cudaMemGetInfo
// after the context. context_method() says which.
//
// cuda_device_present() and resolve_device() exist in every build, so `--device auto` works
// without CUDA (it picks the CPU there).
#pragma once

#include <string>

#include "engine/tensor.h"

#ifdef KNOTNET_HAVE_CUDA
#include <cuda_runtime.h>
#include <cudnn.h>
#endif

namespace knotnet {

// True when this build has the CUDA backend and a CUDA device is visible.
bool cuda_device_present();

// "cpu", "cuda" or "auto" (CUDA when cuda_device_present(), else the CPU). "cuda" on a build or
// machine without CUDA throws, naming what is missing.
Device resolve_device(const std::string& name);

#ifdef KNOTNET_HAVE_CUDA
class CudaContext {
 public:
  // The context, made on first call (throws when no device is usable).
  static CudaContext& get();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  int device() const { return device_; }
  const std::string& device_name() const { return name_; }
  cudaStream_t compute() const { return compute_; }
  cudaStream_t copy() const { return copy_; }
  cudnnHandle_t cudnn() const { return cudnn_; }
  int cc_major() const { return cc_major_; }
  const std::string& pci_bus_id() const { return pci_bus_id_; }
  // Device memory the context, the streams and the cuDNN handle took, and how it was measured.
  size_t context_bytes() const { return context_bytes_; }
  const std::string& context_method() const { return context_method_; }
  // Blocks the host until the compute stream is idle: where the host must read a result (the
  // loss, predictions). Never a device-wide synchronisation.
  void sync_compute() const;

 private:
  CudaContext();
  ~CudaContext() = delete;  // never destroyed (see get())
  void release() noexcept;  // what a failed constructor made
  int device_ = 0;
  std::string name_;
  std::string pci_bus_id_;
  int cc_major_ = 0;
  size_t context_bytes_ = 0;
  std::string context_method_;
  cudaStream_t compute_ = nullptr;
  cudaStream_t copy_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
};
#endif

}  // namespace knotnet
