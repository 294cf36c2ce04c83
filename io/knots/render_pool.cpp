// Worker threads wait on a generation counter; each new block bumps it. The one non-obvious
// choice: every worker keeps its own RenderWorkspace for its whole life, so rendering allocates
// nothing once the first samples have sized the buffers.
#include "io/knots/render_pool.h"

#include <algorithm>

#include "engine/error.h"

namespace knotnet::knots {

RenderPool::RenderPool(int threads) {
  KN_CHECK(threads >= 1, "a render pool needs at least one thread, got ", threads);
  workers_.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) workers_.emplace_back([this] { work(); });
}

RenderPool::~RenderPool() {
  {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return active_ == 0; });
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void RenderPool::start(const BlockRequest& request) {
  KN_CHECK(request.count >= 0 && (request.count == 0 || (request.labels && request.images)),
           "a render block needs labels and an image buffer for its ", request.count, " rows");
  KN_CHECK(request.group_rows >= 1 && request.first_group_rows >= 0, "render groups need at least one row, got ",
           request.group_rows);
  {
    std::unique_lock lock(mutex_);
    KN_CHECK(!busy_, "RenderPool::start called while a block is still in flight");
    request_ = request;
    next_group_.store(0);
    active_ = static_cast<int>(workers_.size());
    busy_ = true;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
}

void RenderPool::wait() {
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] { return active_ == 0; });
  busy_ = false;
  if (error_) {
    std::exception_ptr e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
}

void RenderPool::work() {
  RenderWorkspace ws;
  uint64_t seen = 0;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    const BlockRequest r = request_;
    lock.unlock();
    const size_t image_bytes = static_cast<size_t>(r.size) * static_cast<size_t>(r.size) * 3;
    const int64_t first = r.first_group_rows > 0 ? r.first_group_rows : r.group_rows;
    std::exception_ptr failure;
    try {
      for (int64_t g = next_group_.fetch_add(1);; g = next_group_.fetch_add(1)) {
        const int64_t begin = g == 0 ? 0 : first + (g - 1) * r.group_rows;
        if (begin >= r.count) break;
        const int64_t end = std::min(r.count, g == 0 ? first : begin + r.group_rows);
        for (int64_t row = begin; row < end; ++row) {
          const size_t j = static_cast<size_t>(row);
          SampleInfo info = render_sample(r.seed, r.first_index + j, class_from_label(r.labels[j]), r.size,
                                          r.images + j * image_bytes, ws);
          if (r.infos) r.infos[j] = info;
        }
        if (r.after_group) r.after_group(begin, end);
      }
    } catch (...) {
      failure = std::current_exception();
      next_group_.store(r.count + 1);  // the others stop early
    }
    lock.lock();
    if (failure && !error_) error_ = failure;
    if (--active_ == 0) done_.notify_all();
  }
}

}  // namespace knotnet::knots
