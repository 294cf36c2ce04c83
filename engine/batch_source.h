// Where the trainer gets its batches: an HDF5 reader, generated data, or a test's arrays.
// The order of an epoch must be a function of the epoch's index alone, so that a run resumed
// from a checkpoint sees exactly the batches the interrupted run would have seen.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace knotnet {

struct DeviceBatch;  // engine/device_staging.h

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t samples() const = 0;          // samples per epoch
  virtual void begin_epoch(int64_t epoch) = 0;  // epoch counts from 0
  // The next batch as host views, images uint8 (n, H, W, C) and labels i32 (n), valid until the
  // next call; false when the epoch is over.
  virtual bool next(Tensor& images, Tensor& labels) = 0;
  // The batch the last next() returned, already copied (or being copied) into the model's device
  // staging, when this source delivers to a GPU; nullptr (the default) when it does not. The
  // host views stay valid either way; the trainer then steps with Model::submit_train_step.
  virtual const DeviceBatch* device_batch() const { return nullptr; }
};

}  // namespace knotnet
