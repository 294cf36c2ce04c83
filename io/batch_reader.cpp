// The reader's pipeline (see batch_reader.h). One mutex guards the schedule; workers copy pixels
// without it, into positions no other thread touches, and publish them by decrementing their
// batch's count under the mutex. A worker only reads a block once every batch of the block's
// window has a slot, and a slot is only handed to batch k once the consumer has let go of
// batch k - slots: that ordering is the whole of the reader's memory bound, and why it cannot
// deadlock (two windows of batches fit in the ring, see window_batch_span).
#include "io/batch_reader.h"

#include <algorithm>
#include <cstring>

#include "engine/error.h"
#include "engine/format.h"

namespace knotnet {

namespace {
constexpr size_t kSlotAlign = 64;
size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
}  // namespace

ReaderLayout plan_reader_layout(const ImageDataset& data, const std::vector<int64_t>& rows, const ReaderOptions& options) {
  const int64_t b = options.batch;
  KN_CHECK(b > 0, "the batch size must be positive, got ", b);
  const int64_t B = data.block_rows();
  const size_t sample = data.sample_bytes();
  const size_t slot_bytes = round_up(static_cast<size_t>(b) * sample, kSlotAlign) +
                            round_up(static_cast<size_t>(b) * sizeof(int32_t), kSlotAlign);
  ReaderLayout l;
  l.mixing_window_samples = mixing_window_samples(rows, data.labels(), data.classes(), B, b);
  // A window never needs to exceed the split.
  const int64_t whole = std::max<int64_t>(b, (static_cast<int64_t>(rows.size()) + b - 1) / b * b);
  const int64_t wanted = std::min(l.mixing_window_samples, whole);
  l.mixing_window_samples = wanted;
  int64_t window = std::min(options.window_samples > 0 ? options.window_samples : wanted, whole);

  unsigned hw = std::thread::hardware_concurrency();
  l.threads = options.threads > 0 ? options.threads : static_cast<int>(std::clamp(hw, 1u, 16u));
  l.worker_bytes = static_cast<size_t>(l.threads) * (data.scratch_bytes() + static_cast<size_t>(B) * sample);
  auto slots_for = [&](int64_t m) { return 2 * window_batch_span(m, B, b) + 1; };
  auto bytes_for = [&](int64_t m) { return static_cast<size_t>(slots_for(m)) * slot_bytes + l.worker_bytes; };
  if (bytes_for(window) > options.max_buffer_bytes) {
    KN_CHECK(bytes_for(1) <= options.max_buffer_bytes, "the reader's buffer budget of ",
             format_bytes(options.max_buffer_bytes), " is too small for batches of ", b, " images of ",
             data.info().image_shape.str(), " from ", data.info().path, ": it needs at least ", format_bytes(bytes_for(1)));
    int64_t lo = 1, hi = window;  // the largest window that fits
    while (lo < hi) {
      int64_t mid = lo + (hi - lo + 1) / 2;
      if (bytes_for(mid) <= options.max_buffer_bytes) lo = mid;
      else hi = mid - 1;
    }
    window = lo;
  }
  l.window_samples = window;
  l.slots = static_cast<int>(slots_for(window));
  l.ring_bytes = static_cast<size_t>(l.slots) * slot_bytes;
  if (options.shuffle == ShuffleMode::window && window < wanted)
    l.warnings.push_back("the shuffling window holds " + format_count(window) + " images, fewer than the " +
                         format_count(wanted) + " that batches of " + std::to_string(b) +
                         " need to mix this file's classes like random batches; raise the buffer budget");
  if (options.shuffle == ShuffleMode::none)
    l.warnings.push_back("shuffling is off: batches follow the file's order, so on a file sorted by class each "
                         "batch holds one class and training fails (accuracy 100%, then 33%)");
  return l;
}

BatchReader::BatchReader(const ImageDataset& data, std::vector<int64_t> rows, const ReaderOptions& options)
    : data_(data), rows_(std::move(rows)), options_(options),
      allocator_(options.allocator ? options.allocator : &aligned_host_allocator()) {
  for (size_t i = 0; i < rows_.size(); ++i)
    KN_CHECK(rows_[i] >= 0 && rows_[i] < data_.size() && (i == 0 || rows_[i] > rows_[i - 1]),
             "the rows given to the reader must be ascending, distinct and below ", data_.size());
  ReaderLayout layout = plan_reader_layout(data_, rows_, options_);
  const int64_t b = options_.batch;
  window_ = layout.window_samples;
  mixing_window_ = layout.mixing_window_samples;
  threads_ = layout.threads;
  slots_ = layout.slots;
  warnings_ = std::move(layout.warnings);
  slot_image_bytes_ = round_up(static_cast<size_t>(b) * data_.sample_bytes(), kSlotAlign);
  slot_label_bytes_ = round_up(static_cast<size_t>(b) * sizeof(int32_t), kSlotAlign);

  image_ring_ = HostBuffer(*allocator_, static_cast<size_t>(slots_) * slot_image_bytes_);
  label_ring_ = HostBuffer(*allocator_, static_cast<size_t>(slots_) * slot_label_bytes_);
  ring_.resize(static_cast<size_t>(slots_));
  for (int s = 0; s < slots_; ++s) {
    Slot& slot = ring_[static_cast<size_t>(s)];
    slot.images = image_ring_.data() + static_cast<size_t>(s) * slot_image_bytes_;
    slot.labels = reinterpret_cast<int32_t*>(label_ring_.data() + static_cast<size_t>(s) * slot_label_bytes_);
    slot.rows.assign(static_cast<size_t>(b), -1);
  }
}

BatchReader::~BatchReader() {
  stop();
  if (options_.delivery)
    for (int s = 0; s < slots_; ++s) {
      try {
        options_.delivery->reclaim(s);
      } catch (...) {
        // A destructor must not throw; the ring is freed either way.
      }
    }
}

size_t BatchReader::buffer_bytes() const {
  return image_ring_.size() + label_ring_.size() +
         static_cast<size_t>(threads_) * (data_.scratch_bytes() + static_cast<size_t>(data_.block_rows()) * data_.sample_bytes());
}

void BatchReader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  ready_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void BatchReader::start_epoch(int64_t epoch) {
  stop();
  PlanOptions po;
  po.batch = options_.batch;
  po.window_samples = window_;
  po.mode = options_.shuffle;
  po.drop_last = options_.drop_last;
  po.seed = options_.seed;
  plan_ = plan_epoch(rows_, data_.labels(), data_.classes(), data_.block_rows(), po, epoch);
  KN_CHECK(plan_.max_window_batches() <= window_batch_span(window_, data_.block_rows(), options_.batch),
           "internal error: a shuffling window spans more batches than the ring was sized for");
  std::lock_guard<std::mutex> lock(mu_);
  epoch_ = epoch;
  next_block_ = assigned_ = released_ = next_batch_ = 0;
  holding_ = reclaiming_ = stop_ = false;
  error_ = nullptr;
  for (Slot& s : ring_) {
    s.batch = -1;
    s.remaining = 0;
  }
  const int n = static_cast<int>(std::min<int64_t>(threads_, std::max<int64_t>(plan_.blocks(), 1)));
  running_ = n;
  for (int t = 0; t < n; ++t) workers_.emplace_back([this] { worker(); });
}

void BatchReader::assign_slot(int64_t k) {
  Slot& s = ring_[static_cast<size_t>(k % slots_)];
  const int64_t first = k * plan_.batch, n = plan_.batch_size(k);
  const auto& labels = data_.labels();
  for (int64_t q = 0; q < n; ++q) {
    int64_t row = plan_.order[static_cast<size_t>(first + q)];
    s.rows[static_cast<size_t>(q)] = row;
    s.labels[q] = labels[static_cast<size_t>(row)];
  }
  s.batch = k;
  s.remaining = n;
}

void BatchReader::fail(std::exception_ptr e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_) error_ = e;
  }
  work_cv_.notify_all();
  ready_cv_.notify_all();
}

void BatchReader::load_block(int64_t i, std::vector<uint8_t>& block, std::vector<uint8_t*>& dst,
                             BlockScratch& scratch) {
  const size_t sample = data_.sample_bytes();
  const int64_t b = plan_.batch;
  const auto begin = static_cast<size_t>(plan_.block_begin[static_cast<size_t>(i)]);
  const auto end = static_cast<size_t>(plan_.block_begin[static_cast<size_t>(i) + 1]);
  dst.clear();
  for (size_t j = begin; j < end; ++j) {
    const int64_t pos = plan_.entry_pos[j];
    dst.push_back(ring_[static_cast<size_t>((pos / b) % slots_)].images + static_cast<size_t>(pos % b) * sample);
  }
  const int64_t id = plan_.block_ids[static_cast<size_t>(i)];
  if (data_.rows_are_plain()) {
    // Stored bytes are the pixels: read each row straight into its place in the ring.
    data_.read_rows(id, &plan_.entry_row[begin], dst.data(), static_cast<int64_t>(end - begin));
  } else {
    data_.read_block(id, block.data(), scratch);
    for (size_t j = begin; j < end; ++j)
      std::memcpy(dst[j - begin], block.data() + static_cast<size_t>(plan_.entry_row[j]) * sample, sample);
  }
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t j = begin; j < end; ++j) {
      const int64_t k = plan_.entry_pos[j] / b;
      Slot& s = ring_[static_cast<size_t>(k % slots_)];
      if (--s.remaining == 0 && k == next_batch_) wake = true;
    }
  }
  if (wake) ready_cv_.notify_all();
}

void BatchReader::worker() {
  try {
    std::vector<uint8_t> block(data_.rows_are_plain() ? 0 : static_cast<size_t>(data_.block_rows()) * data_.sample_bytes());
    std::vector<uint8_t*> dst;
    BlockScratch scratch;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_ && !error_ && next_block_ < plan_.blocks()) {
      const int64_t i = next_block_;
      if (assigned_ > plan_.block_need[static_cast<size_t>(i)]) {
        ++next_block_;
        lock.unlock();
        load_block(i, block, dst, scratch);
        lock.lock();
        continue;
      }
      if (!reclaiming_ && assigned_ < released_ + slots_ && assigned_ < plan_.batches()) {
        const int64_t k = assigned_;
        if (options_.delivery) {
          reclaiming_ = true;
          lock.unlock();
          options_.delivery->reclaim(static_cast<int>(k % slots_));
          lock.lock();
          reclaiming_ = false;
        }
        assign_slot(k);
        ++assigned_;
        work_cv_.notify_all();
        continue;
      }
      work_cv_.wait(lock);
    }
  } catch (...) {
    fail(std::current_exception());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
  }
  ready_cv_.notify_all();
}

bool BatchReader::next(Batch& out) {
  KN_CHECK(epoch_ >= 0, "BatchReader::next called before start_epoch");
  std::unique_lock<std::mutex> lock(mu_);
  if (holding_) {
    holding_ = false;
    released_ = next_batch_;
    work_cv_.notify_all();
  }
  if (error_) std::rethrow_exception(error_);
  if (next_batch_ >= plan_.batches() || stop_) {
    lock.unlock();
    stop();
    return false;
  }
  const int64_t k = next_batch_;
  Slot& s = ring_[static_cast<size_t>(k % slots_)];
  ready_cv_.wait(lock, [&] { return error_ || (s.batch == k && s.remaining == 0) || running_ == 0 || stop_; });
  if (error_) std::rethrow_exception(error_);
  if (stop_) return false;
  KN_CHECK(s.batch == k && s.remaining == 0, "internal error: the reader's workers stopped before batch ", k,
           " of epoch ", epoch_, " was complete");
  const int64_t n = plan_.batch_size(k);
  const Shape& img = data_.info().image_shape;
  out = Batch{};
  out.epoch = epoch_;
  out.index = k;
  out.size = n;
  out.images = Tensor(s.images, Shape{n, img[0], img[1], img[2]}, DType::u8);
  out.labels = Tensor(s.labels, Shape{n}, DType::i32);
  out.rows = s.rows.data();
  out.slot = static_cast<int>(k % slots_);
  holding_ = true;
  ++next_batch_;
  lock.unlock();
  if (options_.delivery) options_.delivery->deliver(out);
  return true;
}

}  // namespace knotnet
