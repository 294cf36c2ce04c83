// CudaBatchDelivery (see cuda_batch_delivery.h): one cudaMemcpyAsync pair per batch on the copy
// stream, one event per host slot, every CUDA call checked.
#include "delivery/cuda_batch_delivery.h"

#include "engine/error.h"

#ifdef KNOTNET_HAVE_CUDA
#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#endif

namespace knotnet {

#ifdef KNOTNET_HAVE_CUDA
namespace {
cudaEvent_t as_event(void* e) { return static_cast<cudaEvent_t>(e); }
}  // namespace
#endif

CudaBatchDelivery::CudaBatchDelivery(DeviceStaging& staging) : staging_(staging) {
#ifndef KNOTNET_HAVE_CUDA
  KN_THROW("delivery to the GPU needs the CUDA backend; this build has none");
#endif
}

CudaBatchDelivery::~CudaBatchDelivery() {
#ifdef KNOTNET_HAVE_CUDA
  // The reader reclaimed every slot before freeing its ring; waiting again is harmless and keeps
  // a delivery destroyed without a reader safe. Statuses are ignored in a destructor.
  for (void* e : host_copied_) {
    if (!e) continue;
    cudaEventSynchronize(as_event(e));
    cudaEventDestroy(as_event(e));
  }
#endif
}

void CudaBatchDelivery::deliver(Batch& batch) {
#ifdef KNOTNET_HAVE_CUDA
  KN_CHECK(batch.slot >= 0, "a delivered batch must name its ring slot");
  const auto slot = static_cast<size_t>(batch.slot);
  cudaEvent_t event = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (host_copied_.size() <= slot) host_copied_.resize(slot + 1, nullptr);
    if (!host_copied_[slot]) {
      cudaEvent_t e = nullptr;
      // Blocking sync: the reader's workers wait on these in reclaim(), and a spinning wait
      // would take the cores they decode chunks with.
      KN_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming | cudaEventBlockingSync));
      host_copied_[slot] = e;
    }
    event = as_event(host_copied_[slot]);
  }
  last_ = staging_.upload(batch.images, batch.labels);
  // After the copy out of this host slot, in copy-stream order; reclaim(slot) waits on it.
  KN_CUDA_CHECK(cudaEventRecord(event, CudaContext::get().copy()));
  batch.device_images = last_.images;
  batch.device_labels = last_.labels;
  ++delivered_;
#else
  (void)batch;
#endif
}

void CudaBatchDelivery::reclaim(int slot) {
#ifdef KNOTNET_HAVE_CUDA
  cudaEvent_t event = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (slot >= 0 && static_cast<size_t>(slot) < host_copied_.size()) event = as_event(host_copied_[static_cast<size_t>(slot)]);
  }
  if (event) KN_CUDA_CHECK(cudaEventSynchronize(event));  // a slot never delivered has nothing in flight
#else
  (void)slot;
#endif
}

}  // namespace knotnet
