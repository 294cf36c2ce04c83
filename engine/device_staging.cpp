// Device staging slots and their events (see device_staging.h). Every CUDA call is checked;
// nothing here blocks the host except the destructor.
#include "engine/device_staging.h"

#include "engine/error.h"

#ifdef KNOTNET_HAVE_CUDA
#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#endif

namespace knotnet {

DeviceStaging::DeviceStaging(std::array<Tensor, StagingSlots::kCount> images,
                             std::array<Tensor, StagingSlots::kCount> labels, int64_t classes)
    : images_(images), labels_(labels), classes_(classes) {
#ifdef KNOTNET_HAVE_CUDA
  for (int s = 0; s < StagingSlots::kCount; ++s) {
    KN_CHECK(images_[s].device == Device::cuda && images_[s].dtype == DType::u8 && labels_[s].dtype == DType::i32 &&
                 labels_[s].shape == Shape{images_[s].shape[0]},
             "device staging slots must be device u8 images and i32 labels of one batch size");
    KN_CUDA_CHECK(cudaEventCreateWithFlags(&copied_[s], cudaEventDisableTiming));
    KN_CUDA_CHECK(cudaEventCreateWithFlags(&released_[s], cudaEventDisableTiming));
  }
#else
  KN_THROW("device staging needs the CUDA backend; this build has none");
#endif
}

DeviceStaging::~DeviceStaging() {
#ifdef KNOTNET_HAVE_CUDA
  // A destructor must not throw: statuses are ignored (at exit the driver may be gone).
  for (int s = 0; s < StagingSlots::kCount; ++s) {
    if (copied_[s]) {
      cudaEventSynchronize(copied_[s]);
      cudaEventDestroy(copied_[s]);
    }
    if (released_[s]) cudaEventDestroy(released_[s]);
  }
#endif
}

DeviceBatch DeviceStaging::upload(const Tensor& images, const Tensor& labels) {
#ifdef KNOTNET_HAVE_CUDA
  KN_CHECK(images.device == Device::cpu && labels.device == Device::cpu, "a batch is uploaded from host memory");
  KN_CHECK(images.dtype == DType::u8 && images.shape.rank() >= 1, "device staging takes uint8 images, got ",
           images.describe());
  const int64_t n = images.shape[0];
  const int64_t capacity = images_[0].shape[0];
  KN_CHECK(n > 0 && n <= capacity, "a batch of ", n, " images does not fit the staging slots of ", capacity);
  KN_CHECK(images.shape == images_[0].first(n).shape, "images should be ", images_[0].first(n).shape.str(), ", got ",
           images.shape.str());
  KN_CHECK(labels.dtype == DType::i32 && labels.shape == Shape{n}, "labels should be i32 (", n, "), got ",
           labels.describe());
  const int32_t* idx = labels.as<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    KN_CHECK(idx[i] >= 0 && idx[i] < classes_, "a label is outside the model's classes [0, ", classes_, ")");

  const StagingSlots::Ticket t = slots_.claim();
  const auto s = static_cast<size_t>(t.slot);
  DeviceBatch b{n, images_[s].first(n), labels_[s].first(n), t};
  cudaStream_t copy = CudaContext::get().copy();
  // The slot's previous batch must have been converted (a no-op before its first release).
  KN_CUDA_CHECK(cudaStreamWaitEvent(copy, released_[s], 0));
  KN_CUDA_CHECK(cudaMemcpyAsync(b.images.data, images.data, b.images.bytes(), cudaMemcpyHostToDevice, copy));
  KN_CUDA_CHECK(cudaMemcpyAsync(b.labels.data, labels.data, b.labels.bytes(), cudaMemcpyHostToDevice, copy));
  KN_CUDA_CHECK(cudaEventRecord(copied_[s], copy));
  return b;
#else
  (void)images;
  (void)labels;
  KN_THROW("device staging needs the CUDA backend; this build has none");
#endif
}

#ifdef KNOTNET_HAVE_CUDA
void DeviceStaging::wait_ready(const DeviceBatch& b, cudaStream_t stream) const {
  KN_CHECK(slots_.holds(b.ticket), "this device batch is stale: its staging slot has been written again since "
                                   "(consume each batch before the next-but-one upload)");
  const auto s = static_cast<size_t>(b.ticket.slot);
  KN_CHECK(b.images.data == images_[s].data && b.labels.data == labels_[s].data,
           "this device batch belongs to another model's staging slots");
  KN_CUDA_CHECK(cudaStreamWaitEvent(stream, copied_[s], 0));
}

void DeviceStaging::release(const DeviceBatch& b, cudaStream_t stream) {
  KN_CUDA_CHECK(cudaEventRecord(released_[static_cast<size_t>(b.ticket.slot)], stream));
}
#endif

}  // namespace knotnet
