// Two device staging slots for batches that arrive on the copy stream (the reader's CUDA
// delivery), and the events that keep the copy and compute streams apart without any host wait:
//  - copied[s], recorded on the copy stream after a batch lands in slot s; the compute stream
//    waits on it (cudaStreamWaitEvent) before converting the slot's bytes;
//  - released[s], recorded on the compute stream right after that conversion; the copy stream
//    waits on it before it writes slot s again.
// With two slots the copy of batch k+1 may run while step k computes. The slots are buffers of
// the model's memory plan (lifetime always), so nothing is allocated here but 4 events.
//
// The one non-obvious choice: a DeviceBatch carries its slot's generation, and consuming a batch
// whose slot was written again since (two uploads later) throws instead of reading the wrong
// bytes. StagingSlots is that bookkeeping alone, without CUDA, so it is tested on any machine.
#pragma once

#include <array>
#include <cstdint>

#include "engine/tensor.h"

#ifdef KNOTNET_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace knotnet {

// Round-robin assignment of uploads to the staging slots, with a generation per upload.
class StagingSlots {
 public:
  static constexpr int kCount = 2;
  struct Ticket {
    int slot = -1;
    uint64_t generation = 0;  // 0: never issued
  };
  // The slot the next upload writes; the ticket of the batch it held becomes stale.
  Ticket claim() {
    const int slot = static_cast<int>(issued_ % kCount);
    ++issued_;
    generation_[static_cast<size_t>(slot)] = issued_;
    return {slot, issued_};
  }
  // True while the ticket's slot still holds the batch it was issued for.
  bool holds(const Ticket& t) const {
    return t.generation != 0 && t.slot >= 0 && t.slot < kCount && generation_[static_cast<size_t>(t.slot)] == t.generation;
  }
  uint64_t issued() const { return issued_; }

 private:
  uint64_t issued_ = 0;
  std::array<uint64_t, kCount> generation_{};
};

// A batch in one of a model's device staging slots: valid (for that model) until the slot is
// written again, two uploads later.
struct DeviceBatch {
  int64_t size = 0;          // n
  Tensor images;             // u8 (n, H, W, C), device
  Tensor labels;             // i32 (n), device
  StagingSlots::Ticket ticket;
};

class DeviceStaging {
 public:
  // images[s]: u8 (B, H, W, C) and labels[s]: i32 (B) device views of the plan's slots.
  DeviceStaging(std::array<Tensor, StagingSlots::kCount> images, std::array<Tensor, StagingSlots::kCount> labels,
                int64_t classes);
  // Waits for copies into the slots still in flight (the arena is freed after this).
  ~DeviceStaging();
  DeviceStaging(const DeviceStaging&) = delete;
  DeviceStaging& operator=(const DeviceStaging&) = delete;

  // Enqueues the copy of a host batch (images u8 (n, H, W, C), labels i32 (n), n <= B; best
  // from page-locked memory) into the next slot, on the copy stream, after the slot's previous
  // batch was converted. Labels are range-checked on the host first. Returns at once: the
  // caller must keep the host memory unchanged until the copy has finished (enqueue an event
  // on CudaContext::copy() right after this call and wait on it; the reader's delivery does).
  DeviceBatch upload(const Tensor& images, const Tensor& labels);
#ifdef KNOTNET_HAVE_CUDA
  // Makes `stream` wait for the batch's copy; throws when the batch is not this staging's or its
  // slot has been written again since.
  void wait_ready(const DeviceBatch& b, cudaStream_t stream) const;
  // Records, on `stream`, that the slot's bytes have been read (after the conversion).
  void release(const DeviceBatch& b, cudaStream_t stream);
#endif
  const StagingSlots& slots() const { return slots_; }

 private:
  StagingSlots slots_;
  std::array<Tensor, StagingSlots::kCount> images_, labels_;
  int64_t classes_;
#ifdef KNOTNET_HAVE_CUDA
  std::array<cudaEvent_t, StagingSlots::kCount> copied_{}, released_{};
#endif
};

}  // namespace knotnet
