// The reader's BatchDelivery for a CUDA model: each batch the reader hands out is copied from its
// (pinned) host slot into the model's next device staging slot on the copy stream
// (DeviceStaging::upload), and an event recorded after that copy, one per host slot, lets
// reclaim(slot) block the reader's worker until the slot may be written again. The training
// stream never waits on the host: the model's device step waits on the staging's own events.
//
// The one non-obvious choice: the host-slot events are made lazily, under a mutex, the first
// time a slot is delivered (the reader's ring size is known only after the reader is built,
// and the delivery must exist before it); deliver (consumer thread) and reclaim (worker
// threads) only share that table.
#pragma once

#include <mutex>
#include <vector>

#include "engine/device_staging.h"
#include "io/batch_reader.h"

namespace knotnet {

class CudaBatchDelivery final : public BatchDelivery {
 public:
  // `staging` (a CUDA model's, Model::device_staging()) must outlive this delivery, and this
  // delivery must outlive the reader it is given to.
  explicit CudaBatchDelivery(DeviceStaging& staging);
  ~CudaBatchDelivery() override;
  CudaBatchDelivery(const CudaBatchDelivery&) = delete;
  CudaBatchDelivery& operator=(const CudaBatchDelivery&) = delete;

  void deliver(Batch& batch) override;
  void reclaim(int slot) override;
  // The device batch of the last deliver() (consumer thread only).
  const DeviceBatch& last() const { return last_; }
  int64_t delivered() const { return delivered_; }

 private:
  DeviceStaging& staging_;
  DeviceBatch last_;
  int64_t delivered_ = 0;
  std::mutex mu_;
  std::vector<void*> host_copied_;  // cudaEvent_t by host slot; null until first delivered
};

}  // namespace knotnet
