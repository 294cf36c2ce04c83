// The batch reader end to end: every image of a split exactly once per epoch, each with its own
// label, whatever the file's layout and however many workers; the same batches from the same
// seed; batches that mix a class-sorted file; errors from workers at the consumer; early stops
// and the delivery hook's contract without races (these tests also run under ThreadSanitizer).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <numeric>
#include <cstring>
#include <set>

#include "engine/error.h"
#include "io/batch_reader.h"
#include "io/shuffle_quality.h"
#include "io/split.h"
#include "tests/support/h5_fixtures.h"
#include "tests/support/test_support.h"

using namespace knotnet;
using namespace knotnet::test;

namespace {

struct Epoch {
  std::vector<int64_t> rows;                 // in delivery order
  std::vector<std::vector<int64_t>> counts;  // label counts per batch
};

// Reads one epoch, checking every image against its row and every label against the file's.
Epoch read_epoch(BatchReader& reader, const ImageDataset& ds, int64_t epoch, uint64_t seed) {
  Epoch out;
  reader.start_epoch(epoch);
  Batch b;
  const int64_t elems = ds.info().image_shape.numel();
  int64_t expect_index = 0;
  while (reader.next(b)) {
    EXPECT_EQ(b.index, expect_index++);
    EXPECT_EQ(b.epoch, epoch);
    EXPECT_EQ(b.images.dtype, DType::u8);
    EXPECT_EQ(b.labels.dtype, DType::i32);
    EXPECT_EQ(b.images.shape, ds.info().image_shape.with_batch(b.size));
    std::vector<int64_t> counts(static_cast<size_t>(ds.classes()), 0);
    for (int64_t i = 0; i < b.size; ++i) {
      const int64_t row = b.rows[i];
      EXPECT_TRUE(image_is_row(b.images.as<uint8_t>() + i * elems, elems, row, seed)) << "row " << row;
      EXPECT_EQ(b.labels.as<int32_t>()[i], ds.labels()[static_cast<size_t>(row)]) << "row " << row;
      ++counts[static_cast<size_t>(b.labels.as<int32_t>()[i])];
      out.rows.push_back(row);
    }
    out.counts.push_back(counts);
  }
  EXPECT_EQ(expect_index, reader.batches_per_epoch());
  return out;
}

std::vector<int64_t> sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

class ReaderPipeline : public ::testing::Test {
 protected:
  TempDir dir;
  std::string path(const std::string& name = "data.h5") const { return (dir / name).string(); }
};

TEST_F(ReaderPipeline, EveryImageOnceWithItsLabelInEveryLayout) {
  struct Layout {
    const char* name;
    ImageFileSpec spec;
  };
  std::vector<Layout> layouts;
  ImageFileSpec base;
  base.n = 1000;
  base.sorted = false;
  layouts.push_back({"chunked deflate", base});
  layouts.back().spec.chunk = {64, 8, 8, 3};
  layouts.back().spec.deflate = 3;
  layouts.push_back({"contiguous", base});
  layouts.push_back({"tiled chunks", base});
  layouts.back().spec.chunk = {50, 4, 8, 3};
  layouts.push_back({"flat float one-hot", base});
  layouts.back().spec.flat = true;
  layouts.back().spec.float_pixels = true;
  layouts.back().spec.chunk = {40, 192};
  layouts.back().spec.shuffle = true;
  layouts.back().spec.deflate = 1;
  layouts.back().spec.labels = LabelKind::onehot_f32;
  for (const Layout& l : layouts) {
    SCOPED_TRACE(l.name);
    write_image_file(path(), l.spec);
    ImageDataset ds(path());
    Split split = stratified_split(ds.labels(), ds.classes(), ds.block_rows(), SplitFractions{}, 3);
    ReaderOptions opt;
    opt.batch = 32;
    opt.threads = 3;
    BatchReader reader(ds, split.train(), opt);
    Epoch e0 = read_epoch(reader, ds, 0, l.spec.seed);
    Epoch e1 = read_epoch(reader, ds, 1, l.spec.seed);
    EXPECT_EQ(sorted(e0.rows), split.train());
    EXPECT_EQ(sorted(e1.rows), split.train());
    EXPECT_NE(e0.rows, e1.rows);
    BatchReader val(ds, split.validation(), opt);
    EXPECT_EQ(sorted(read_epoch(val, ds, 0, l.spec.seed).rows), split.validation());
  }
}

TEST_F(ReaderPipeline, SameBatchesWhateverTheThreadCount) {
  ImageFileSpec spec;
  spec.n = 3000;
  spec.chunk = {30, 8, 8, 3};
  spec.deflate = 1;
  write_image_file(path(), spec);
  ImageDataset ds(path());
  std::vector<int64_t> all(3000);
  std::iota(all.begin(), all.end(), 0);
  std::vector<int64_t> first;
  for (int threads : {1, 2, 5}) {
    ReaderOptions opt;
    opt.batch = 64;
    opt.threads = threads;
    opt.seed = 7;
    BatchReader reader(ds, all, opt);
    Epoch e = read_epoch(reader, ds, 2, spec.seed);
    if (first.empty()) first = e.rows;
    EXPECT_EQ(e.rows, first) << threads << " threads";
  }
}

TEST_F(ReaderPipeline, SortedFileBatchesMix) {
  ImageFileSpec spec;
  spec.n = 30000;
  spec.height = spec.width = 4;
  spec.chunk = {64, 4, 4, 3};
  spec.sorted = true;
  write_image_file(path(), spec);
  ImageDataset ds(path());
  Split split = stratified_split(ds.labels(), 3, ds.block_rows(), SplitFractions{}, 1);
  auto counts = class_counts(ds.labels(), split.train(), 3);
  std::vector<double> p;
  for (int64_t c : counts) p.push_back(static_cast<double>(c) / static_cast<double>(split.train().size()));
  ReaderOptions opt;
  opt.batch = 128;
  BatchReader reader(ds, split.train(), opt);
  std::vector<std::vector<int64_t>> all;
  for (int e = 0; e < 4; ++e) {
    Epoch ep = read_epoch(reader, ds, e, spec.seed);
    all.insert(all.end(), ep.counts.begin(), ep.counts.end());
  }
  MixingReport r = mixing_report(all, p, 128);
  std::printf("sorted file through the reader: %lld of %lld batches of 128 fail the 1%% chi-square test\n",
              static_cast<long long>(r.failing), static_cast<long long>(r.batches));
  EXPECT_GE(r.batches, 600);
  EXPECT_LE(r.failing_share(), 0.02) << r.failing << " of " << r.batches;
  EXPECT_EQ(r.missing_major_class, 0);

  // The same file in order: every batch holds one class (the original failure), and it warns.
  opt.shuffle = ShuffleMode::none;
  BatchReader in_order(ds, split.train(), opt);
  ASSERT_FALSE(in_order.warnings().empty());
  EXPECT_NE(in_order.warnings()[0].find("shuffling is off"), std::string::npos);
  Epoch e = read_epoch(in_order, ds, 0, spec.seed);
  EXPECT_EQ(e.rows, split.train());
  EXPECT_GT(mixing_report(e.counts, p, 128).failing_share(), 0.9);
}

// A stand-in for the CUDA copy: deliver() snapshots the batch and starts an asynchronous copy
// of its slot into a "device" buffer; reclaim() waits for the copy and compares it with the
// snapshot. Had the reader rewritten a slot before reclaiming it, the copy would differ (and
// ThreadSanitizer would report the race).
class AsyncCopyDelivery final : public BatchDelivery {
 public:
  explicit AsyncCopyDelivery(int slots)
      : pending_(static_cast<size_t>(slots)), device_(static_cast<size_t>(slots)), expected_(static_cast<size_t>(slots)) {}
  void deliver(Batch& batch) override {
    const auto slot = static_cast<size_t>(batch.slot);
    const auto* src = batch.images.as<uint8_t>();
    const size_t bytes = batch.images.bytes();
    expected_[slot].assign(src, src + bytes);
    device_[slot].resize(bytes);
    uint8_t* dst = device_[slot].data();
    pending_[slot] = std::async(std::launch::async, [src, dst, bytes] {
      std::this_thread::sleep_for(std::chrono::microseconds(300));
      std::memcpy(dst, src, bytes);
    });
    batch.device_images = Tensor(dst, batch.images.shape, DType::u8);
    ++delivered;
  }
  void reclaim(int slot) override {
    auto& f = pending_[static_cast<size_t>(slot)];
    if (f.valid()) {
      f.get();
      if (device_[static_cast<size_t>(slot)] != expected_[static_cast<size_t>(slot)]) ++mismatches;
      ++checked;
    }
    ++reclaimed;
  }
  std::atomic<int> delivered{0}, reclaimed{0}, checked{0}, mismatches{0};

 private:
  std::vector<std::future<void>> pending_;
  std::vector<std::vector<uint8_t>> device_, expected_;
};

TEST_F(ReaderPipeline, DeliveryHookCopiesEveryBatchBeforeItsSlotIsReused) {
  ImageFileSpec spec;
  spec.n = 2000;
  spec.chunk = {64, 8, 8, 3};
  write_image_file(path(), spec);
  ImageDataset ds(path());
  std::vector<int64_t> all(2000);
  std::iota(all.begin(), all.end(), 0);
  ReaderOptions opt;
  opt.batch = 16;
  opt.window_samples = 64;  // a small ring, so that slots are reused many times
  opt.threads = 2;
  const int slots = BatchReader(ds, all, opt).ring_slots();
  AsyncCopyDelivery delivery(slots);
  int64_t batches = 0;
  {
    opt.delivery = &delivery;
    BatchReader reader(ds, all, opt);
    for (int e = 0; e < 2; ++e) {
      reader.start_epoch(e);
      Batch b;
      while (reader.next(b)) {
        ASSERT_EQ(b.device_images.shape, b.images.shape);
        ++batches;
      }
    }
  }
  EXPECT_EQ(batches, 250);
  EXPECT_EQ(delivery.delivered.load(), 250);
  EXPECT_EQ(delivery.checked.load(), 250);  // every copy was waited for before reuse or exit
  EXPECT_EQ(delivery.mismatches.load(), 0);
  EXPECT_GE(delivery.reclaimed.load(), 250 + slots);
}

TEST_F(ReaderPipeline, WorkerErrorReachesTheConsumer) {
  ImageFileSpec spec;
  spec.n = 3200;
  spec.chunk = {64, 8, 8, 3};
  spec.deflate = 6;
  write_image_file(path(), spec);
  uint64_t addr = 0, size = 0;
  {
    ImageDataset probe(path());
    addr = probe.index().chunks[30].address;
    size = probe.index().chunks[30].size;
  }
  {
    std::fstream f(path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(addr + size / 3));
    std::string junk(32, '\x33');
    f.write(junk.data(), 32);
  }
  ImageDataset ds(path());
  std::vector<int64_t> all(3200);
  std::iota(all.begin(), all.end(), 0);
  for (int threads : {1, 4}) {
    ReaderOptions opt;
    opt.batch = 50;
    opt.threads = threads;
    BatchReader reader(ds, all, opt);
    reader.start_epoch(0);
    Batch b;
    std::string msg;
    try {
      while (reader.next(b)) {
      }
    } catch (const Error& e) {
      msg = e.what();
    }
    EXPECT_NE(msg.find("rows 1920..1983 of /train_data in " + path()), std::string::npos) << msg;
    EXPECT_NE(msg.find("corrupt chunk"), std::string::npos) << msg;
    EXPECT_THROW(reader.next(b), Error);  // and it stays failed until the next epoch
  }
}

TEST_F(ReaderPipeline, FileShrinkingUnderTheReaderIsAnError) {
  ImageFileSpec spec;
  spec.n = 2000;
  spec.chunk = {100, 8, 8, 3};
  write_image_file(path(), spec);
  ImageDataset ds(path());
  std::filesystem::resize_file(path(), std::filesystem::file_size(path()) / 2);
  std::vector<int64_t> all(2000);
  std::iota(all.begin(), all.end(), 0);
  ReaderOptions opt;
  opt.batch = 100;
  BatchReader reader(ds, all, opt);
  reader.start_epoch(0);
  Batch b;
  try {
    while (reader.next(b)) {
    }
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(was it truncated?)"), std::string::npos) << e.what();
  }
}

TEST_F(ReaderPipeline, StoppingEarlyIsCleanAndTheNextEpochIsWhole) {
  ImageFileSpec spec;
  spec.n = 4000;
  spec.chunk = {64, 8, 8, 3};
  spec.deflate = 1;
  write_image_file(path(), spec);
  ImageDataset ds(path());
  std::vector<int64_t> all(4000);
  std::iota(all.begin(), all.end(), 0);
  ReaderOptions opt;
  opt.batch = 64;
  opt.threads = 3;
  for (int taken : {0, 1, 5}) {
    BatchReader reader(ds, all, opt);
    reader.start_epoch(0);
    Batch b;
    for (int i = 0; i < taken; ++i) ASSERT_TRUE(reader.next(b));
    // Destroyed here with workers mid-epoch.
  }
  BatchReader reader(ds, all, opt);
  reader.start_epoch(0);
  Batch b;
  ASSERT_TRUE(reader.next(b));
  ASSERT_TRUE(reader.next(b));
  Epoch whole = read_epoch(reader, ds, 1, spec.seed);  // restarts mid-epoch
  EXPECT_EQ(sorted(whole.rows), all);
  reader.start_epoch(2);
  reader.stop();
  EXPECT_FALSE(reader.next(b));
}

TEST_F(ReaderPipeline, BufferBudgetLimitsTheWindow) {
  ImageFileSpec spec;
  spec.n = 6000;
  spec.chunk = {64, 8, 8, 3};
  spec.sorted = true;
  write_image_file(path(), spec);
  ImageDataset ds(path());
  std::vector<int64_t> all(6000);
  std::iota(all.begin(), all.end(), 0);
  ReaderOptions opt;
  opt.batch = 32;
  opt.threads = 2;  // the smallest buffer grows with the decoding threads (one chunk each): fix them
  BatchReader roomy(ds, all, opt);
  EXPECT_EQ(roomy.window_samples(), roomy.mixing_window_samples());
  EXPECT_TRUE(roomy.warnings().empty());

  opt.max_buffer_bytes = roomy.buffer_bytes() / 2;
  BatchReader tight(ds, all, opt);
  EXPECT_LE(tight.buffer_bytes(), opt.max_buffer_bytes);
  EXPECT_LT(tight.window_samples(), tight.mixing_window_samples());
  ASSERT_FALSE(tight.warnings().empty());
  EXPECT_NE(tight.warnings()[0].find("raise the buffer budget"), std::string::npos);
  EXPECT_EQ(sorted(read_epoch(tight, ds, 0, spec.seed).rows), all);

  opt.max_buffer_bytes = 1000;
  try {
    BatchReader none(ds, all, opt);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too small for batches of 32 images of (8, 8, 3) from " + path()),
              std::string::npos)
        << e.what();
  }
}

TEST_F(ReaderPipeline, RingComesFromTheGivenAllocator) {
  struct CountingAllocator final : HostAllocator {
    void* allocate(size_t bytes) override {
      bytes_ += bytes;
      ++live;
      return aligned_host_allocator().allocate(bytes);
    }
    void deallocate(void* p, size_t bytes) noexcept override {
      --live;
      aligned_host_allocator().deallocate(p, bytes);
    }
    const char* name() const override { return "counting"; }
    size_t bytes_ = 0;
    int live = 0;
  } counting;
  ImageFileSpec spec;
  spec.n = 500;
  write_image_file(path(), spec);
  ImageDataset ds(path());
  std::vector<int64_t> all(500);
  std::iota(all.begin(), all.end(), 0);
  ReaderOptions opt;
  opt.batch = 20;
  opt.allocator = &counting;
  {
    BatchReader reader(ds, all, opt);
    EXPECT_EQ(counting.live, 2);  // images and labels
    EXPECT_GE(counting.bytes_, static_cast<size_t>(reader.ring_slots()) * 20 * 192);
    EXPECT_STREQ(reader.allocator_name(), "counting");
    EXPECT_EQ(sorted(read_epoch(reader, ds, 0, spec.seed).rows), all);
  }
  EXPECT_EQ(counting.live, 0);
}

TEST_F(ReaderPipeline, DropLastAndEmptySplits) {
  ImageFileSpec spec;
  spec.n = 1000;
  write_image_file(path(), spec);
  ImageDataset ds(path());
  std::vector<int64_t> all(1000);
  std::iota(all.begin(), all.end(), 0);
  ReaderOptions opt;
  opt.batch = 300;
  opt.drop_last = true;
  BatchReader reader(ds, all, opt);
  Epoch e = read_epoch(reader, ds, 0, spec.seed);
  EXPECT_EQ(e.rows.size(), 900u);
  BatchReader empty(ds, {}, opt);
  empty.start_epoch(0);
  Batch b;
  EXPECT_FALSE(empty.next(b));
  EXPECT_THROW(BatchReader(ds, {5, 3}, opt), Error);
}

}  // namespace
