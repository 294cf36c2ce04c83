// The loss sums of GPU training steps, read back without stopping the GPU. Each step's two sums
// (the batch's summed loss and its correct count, f64 on the device) are copied on the compute
// stream into one of two pinned host slots, and an event is recorded after the copy. The host
// then waits on that event alone, not on the stream: a step queued behind it keeps the GPU busy
// while the host waits and reads. Two slots, because the trainer keeps at most two steps in
// flight (Model::submit_train_step); the model checks that, not this class.
#pragma once

#include <array>

#include "engine/tensor.h"

#ifdef KNOTNET_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace knotnet {

class LossReadback {
 public:
  static constexpr int kSlots = 2;

  LossReadback();  // allocates the pinned slots and the events; throws without CUDA
  ~LossReadback();
  LossReadback(const LossReadback&) = delete;
  LossReadback& operator=(const LossReadback&) = delete;

  // Queues the copy of `sums` (2 f64, device) into the next slot, after the work already queued
  // on the compute stream, and returns that slot.
  int send(const Tensor& sums);
  // Waits for the copy into `slot` (the host waits on its event only) and returns the sums.
  std::array<double, 2> receive(int slot) const;

 private:
  void release() noexcept;  // frees what the constructor made (events, then the pinned slots)

  double* host_ = nullptr;  // kSlots pairs, pinned
#ifdef KNOTNET_HAVE_CUDA
  std::array<cudaEvent_t, kSlots> copied_{};
#endif
  int next_ = 0;
};

}  // namespace knotnet
