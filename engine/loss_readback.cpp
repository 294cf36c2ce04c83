#include "engine/loss_readback.h"

#include "engine/error.h"

#ifdef KNOTNET_HAVE_CUDA
#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#endif

namespace knotnet {

LossReadback::LossReadback() {
#ifdef KNOTNET_HAVE_CUDA
  void* p = nullptr;
  KN_CUDA_CHECK(cudaHostAlloc(&p, kSlots * 2 * sizeof(double), cudaHostAllocDefault));
  host_ = static_cast<double*>(p);
  try {
    for (auto& e : copied_) KN_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  } catch (...) {  // no destructor runs after a constructor throws
    release();
    throw;
  }
#else
  KN_THROW("reading the loss back from the GPU needs the CUDA backend; this build has none");
#endif
}

LossReadback::~LossReadback() { release(); }

// Statuses are ignored: this runs in the destructor; cudaFreeHost waits for the copies queued.
void LossReadback::release() noexcept {
#ifdef KNOTNET_HAVE_CUDA
  for (auto& e : copied_)
    if (e) cudaEventDestroy(e);
  if (host_) cudaFreeHost(host_);
#endif
}

int LossReadback::send(const Tensor& sums) {
  KN_CHECK(sums.device == Device::cuda && sums.dtype == DType::f64 && sums.numel() == 2,
           "the loss sums are two f64 on the GPU, got ", sums.describe());
  const int slot = next_;
  next_ = (next_ + 1) % kSlots;
#ifdef KNOTNET_HAVE_CUDA
  cudaStream_t compute = CudaContext::get().compute();
  KN_CUDA_CHECK(cudaMemcpyAsync(host_ + 2 * slot, sums.data, 2 * sizeof(double), cudaMemcpyDeviceToHost, compute));
  KN_CUDA_CHECK(cudaEventRecord(copied_[static_cast<size_t>(slot)], compute));
#endif
  return slot;
}

std::array<double, 2> LossReadback::receive(int slot) const {
  KN_CHECK(slot >= 0 && slot < kSlots, "no loss read-back slot ", slot);
#ifdef KNOTNET_HAVE_CUDA
  KN_CUDA_CHECK(cudaEventSynchronize(copied_[static_cast<size_t>(slot)]));
#endif
  return {host_[2 * slot], host_[2 * slot + 1]};
}

}  // namespace knotnet
