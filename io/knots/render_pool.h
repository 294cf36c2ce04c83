// Renders blocks of samples on a fixed set of worker threads. Rows are handed out in groups
// (one row, or one HDF5 chunk's worth) from an atomic counter, and each row's bytes depend only
// on (seed, index, class), so the result is the same for any number of threads. A group can be
// followed by work on the same thread (make_knots compresses a finished chunk there). One block
// is in flight at a time: start() it, do other work (write the previous block), then wait().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "io/knots/render.h"

namespace knotnet::knots {

struct BlockRequest {
  uint64_t seed = 0;
  uint64_t first_index = 0;        // global sample index of row 0
  const uint8_t* labels = nullptr;  // (count,) class of each row
  int64_t count = 0;
  int size = 128;
  uint8_t* images = nullptr;       // (count, size, size, 3)
  SampleInfo* infos = nullptr;     // (count,) or null
  // Rows are handed out in groups: the first of first_group_rows rows (0: group_rows), then
  // group_rows each. after_group(begin, end), if set, runs on the rendering thread once rows
  // [begin, end) are done.
  int64_t group_rows = 1, first_group_rows = 0;
  std::function<void(int64_t begin, int64_t end)> after_group;
};

class RenderPool {
 public:
  explicit RenderPool(int threads);
  ~RenderPool();
  RenderPool(const RenderPool&) = delete;
  RenderPool& operator=(const RenderPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()); }
  // Starts rendering `request` and returns; its buffers must live until wait() returns.
  void start(const BlockRequest& request);
  // Blocks until the started block is done; rethrows the first error a worker hit.
  void wait();
  void render(const BlockRequest& request) {
    start(request);
    wait();
  }

 private:
  void work();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  BlockRequest request_;
  uint64_t generation_ = 0;
  int active_ = 0;
  bool busy_ = false, stop_ = false;
  std::atomic<int64_t> next_group_{0};
  std::exception_ptr error_;
};

}  // namespace knotnet::knots
