// Where the trainer gets its batches: an HDF5 reader, generated data, or a test's arrays.
// The order of an epoch must be a function of the epoch's index alone, so that a run resumed
// from a checkpoint sees exactly the batches the interrupted run would have seen.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace knotnet {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t samples() const = 0;          // samples per epoch
  virtual void begin_epoch(int64_t epoch) = 0;  // epoch counts from 0
  // The next batch as host views, images uint8 (n, H, W, C) and labels i32 (n), valid until the
  // next call; false when the epoch is over.
  virtual bool next(Tensor& images, Tensor& labels) = 0;
};

}  // namespace knotnet
