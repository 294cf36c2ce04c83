// The background pipeline that turns an ImageDataset and a split into batches: worker threads
// read blocks in the epoch plan's order (shuffle_plan.h), decode them, and copy each image
// straight to its place in a ring of batch buffers (rows stored as plain bytes are read from the
// file straight into their places); the consumer takes finished batches in order.
//
// Memory is fixed at construction: the ring (two windows of batches plus one, so that one window
// fills while the previous one is consumed) and one block of scratch per worker, whatever the
// file's size. Pixels are delivered as uint8 (n, H, W, C) whatever the file holds: float32
// files are converted on the workers (x*255 or x, rounded and clamped), because the model takes
// bytes and scales them by 1/255 itself, and bytes are a quarter of the memory and transfer.
// Labels are delivered as int32 class indices (n), whatever the file's label format.
//
// The ring's memory comes from a HostAllocator, and every finished batch passes through an
// optional BatchDelivery hook on the consumer's thread: that is where the CUDA backend plugs in
// page-locked buffers and an asynchronous copy to device memory (that part belongs to the CUDA
// backend; this file has the host path only).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/tensor.h"
#include "io/h5_dataset.h"
#include "io/host_buffer.h"
#include "io/shuffle_plan.h"

namespace knotnet {

// One batch, as views into a ring buffer; valid until the next call to next(), start_epoch()
// or the reader's destruction.
struct Batch {
  int64_t epoch = 0;
  int64_t index = 0;  // within the epoch
  int64_t size = 0;   // n; the last batch of an epoch may be smaller than the batch size
  Tensor images;      // u8 (n, H, W, C), host
  Tensor labels;      // i32 (n), host
  const int64_t* rows = nullptr;  // (n) the file row of each image
  int slot = -1;                  // ring slot holding it
  // Set by a BatchDelivery that copies the batch to a device; empty on the host path.
  Tensor device_images, device_labels;
};

// The hook between the host ring and a device. Contract:
//  - deliver(batch) runs on the consumer's thread inside next(), once per batch, after the
//    batch is complete in its host slot and before next() returns it. It may start an
//    asynchronous copy (CUDA: cudaMemcpyAsync on a copy stream into a buffer of the memory
//    plan, then an event the training stream waits on) and fill batch.device_*.
//  - reclaim(slot) runs on a worker thread before that slot is written again, and for every
//    slot before the ring is freed; it must block until any copy out of the slot has finished
//    (CUDA: cudaEventSynchronize on the slot's copy-done event). It may throw; the error then
//    reaches the consumer like any reading error.
class BatchDelivery {
 public:
  virtual ~BatchDelivery() = default;
  virtual void deliver(Batch& batch) = 0;
  virtual void reclaim(int slot) = 0;
};

struct ReaderOptions {
  int64_t batch = 128;
  ShuffleMode shuffle = ShuffleMode::window;
  uint64_t seed = 42;
  bool drop_last = false;
  // Images per shuffling window (M); 0: sized from the file so batches mix like random ones
  // (mixing_window_samples), reduced if the ring would exceed max_buffer_bytes.
  int64_t window_samples = 0;
  size_t max_buffer_bytes = size_t{1} << 30;
  int threads = 0;  // workers; 0: the machine's hardware threads (at most 16)
  HostAllocator* allocator = nullptr;  // nullptr: aligned_host_allocator()
  BatchDelivery* delivery = nullptr;   // nullptr: batches stay on the host
};

// How a reader over `rows` will be laid out, worked out without allocating anything (for
// inspect, and the first thing the reader's constructor does).
struct ReaderLayout {
  int64_t window_samples = 0;         // M actually used
  int64_t mixing_window_samples = 0;  // M the file needs for random-like mixing (at most the split)
  int slots = 0;                      // batch buffers in the ring
  int threads = 0;
  size_t ring_bytes = 0;              // images and labels of all slots
  size_t worker_bytes = 0;            // block buffer and scratch of all workers
  std::vector<std::string> warnings;
  size_t total_bytes() const { return ring_bytes + worker_bytes; }
};
ReaderLayout plan_reader_layout(const ImageDataset& data, const std::vector<int64_t>& rows, const ReaderOptions& options);

class BatchReader {
 public:
  // `data` must outlive the reader. `rows`: the file rows to read (a split part), ascending.
  BatchReader(const ImageDataset& data, std::vector<int64_t> rows, const ReaderOptions& options);
  ~BatchReader();
  BatchReader(const BatchReader&) = delete;
  BatchReader& operator=(const BatchReader&) = delete;

  // Plans epoch `epoch` and starts the workers; a running epoch is stopped first.
  void start_epoch(int64_t epoch);
  // The next batch of the epoch into `out`; false when the epoch is over. Rethrows, on the
  // consumer's thread, the first error any worker met (every later call rethrows it too).
  bool next(Batch& out);
  // Stops the workers and waits for them (also done by the destructor and start_epoch).
  void stop();

  const EpochPlan& plan() const { return plan_; }
  int64_t batches_per_epoch() const { return plan_.batches(); }
  int64_t rows() const { return static_cast<int64_t>(rows_.size()); }
  int64_t window_samples() const { return window_; }
  int64_t mixing_window_samples() const { return mixing_window_; }
  int ring_slots() const { return slots_; }
  int threads() const { return threads_; }
  // Bytes the reader holds for pixels: the ring and the workers' block buffers and scratch.
  size_t buffer_bytes() const;
  const std::vector<std::string>& warnings() const { return warnings_; }
  const char* allocator_name() const { return allocator_->name(); }

 private:
  struct Slot {
    int64_t batch = -1;
    int64_t remaining = 0;  // images still to arrive
    uint8_t* images = nullptr;
    int32_t* labels = nullptr;
    std::vector<int64_t> rows;
  };

  void worker();
  void load_block(int64_t i, std::vector<uint8_t>& block, std::vector<uint8_t*>& dst, BlockScratch& scratch);
  void assign_slot(int64_t k);  // under mu_
  void fail(std::exception_ptr e);

  const ImageDataset& data_;
  std::vector<int64_t> rows_;
  ReaderOptions options_;
  HostAllocator* allocator_;
  int64_t window_ = 0, mixing_window_ = 0;
  int slots_ = 0, threads_ = 0;
  size_t slot_image_bytes_ = 0, slot_label_bytes_ = 0;
  HostBuffer image_ring_, label_ring_;
  std::vector<Slot> ring_;
  std::vector<std::string> warnings_;
  EpochPlan plan_;
  int64_t epoch_ = -1;

  std::mutex mu_;
  std::condition_variable work_cv_, ready_cv_;
  std::vector<std::thread> workers_;
  int64_t next_block_ = 0;  // next block of the plan to hand out
  int64_t assigned_ = 0;    // batches [0, assigned_) have slots
  int64_t released_ = 0;    // batches [0, released_) are done with
  int64_t next_batch_ = 0;  // the batch next() returns next
  bool holding_ = false;    // the consumer holds batch next_batch_ - 1
  bool reclaiming_ = false;
  bool stop_ = false;
  int running_ = 0;
  std::exception_ptr error_;
};

}  // namespace knotnet
