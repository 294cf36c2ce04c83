// The render/write pipeline. Two non-obvious choices:
// - With --deflate, each whole chunk is compressed by the thread that rendered it and stored
//   with H5Dwrite_chunk, because HDF5's own filter runs on the one writing thread and would cap
//   the run at a few hundred images/s. Block boundaries sit on multiples of the block size in
//   global rows, so only the first block can start inside a chunk (after an append); partial
//   chunks go through HDF5's filter as usual.
// - A test hook, the environment variable KNOTNET_MAKE_KNOTS_CRASH_AFTER_BLOCKS=k, makes the
//   process SIGKILL itself right after writing its k-th block, so the tests can check what a
//   crash mid-write leaves behind without racing a timer.
#include "apps/make_knots/generate.h"

#include <zlib.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>

#include "apps/make_knots/progress.h"
#include "engine/error.h"
#include "io/h5_writer.h"
#include "io/knots/render_pool.h"

namespace knotnet::make_knots {

namespace {

int64_t crash_after_blocks() {
  const char* v = std::getenv("KNOTNET_MAKE_KNOTS_CRASH_AFTER_BLOCKS");
  return v ? std::atoll(v) : -1;
}

// A chunk's stored bytes: the zlib stream of its rows, or the rows themselves (filter_mask 1)
// when deflate would not make them smaller.
struct StoredChunk {
  std::vector<uint8_t> bytes;
  uint32_t filter_mask = 0;
  bool ready = false;
};

void compress_chunk(const uint8_t* rows, size_t size, int level, StoredChunk& out) {
  uLongf stored = compressBound(static_cast<uLong>(size));
  out.bytes.resize(stored);
  int rc = compress2(out.bytes.data(), &stored, rows, static_cast<uLong>(size), level);
  KN_CHECK(rc == Z_OK || rc == Z_BUF_ERROR, "zlib failed to compress a chunk (error ", rc, ")");
  if (rc == Z_OK && stored < size) {
    out.bytes.resize(stored);
    out.filter_mask = 0;
  } else {
    out.bytes.assign(rows, rows + size);
    out.filter_mask = 1;  // bit 0: the first filter (deflate) was skipped
  }
  out.ready = true;
}

}  // namespace

int64_t block_rows(int64_t chunk) { return ((255 + chunk) / chunk) * chunk; }

int64_t write_dataset(const Plan& plan, const std::vector<uint8_t>& labels, const std::atomic<bool>& interrupted) {
  H5AppendWriter writer = plan.append ? H5AppendWriter::append(plan.out, {kDataName, kLabelName})
                                      : H5AppendWriter::create(plan.out, layout_datasets(plan.layout, plan.size, plan.chunk, plan.deflate));
  KN_CHECK(writer.rows(kDataName) == static_cast<int64_t>(plan.first_index), plan.out.string(), " changed while make_knots read it");

  const bool compress = plan.deflate > 0;
  const int64_t chunk = plan.chunk, total = static_cast<int64_t>(labels.size());
  // Compressing threads work a chunk at a time, so give each of them a couple of chunks.
  const int64_t block = compress ? chunk * std::max((255 + chunk) / chunk, int64_t{2} * plan.threads) : block_rows(chunk);
  const int64_t start = static_cast<int64_t>(plan.first_index);
  const int64_t first_block_rows = std::min(total, block - start % block);
  const int64_t blocks = total == 0 ? 0 : 1 + (total - first_block_rows + block - 1) / block;
  const size_t image_bytes = static_cast<size_t>(plan.size) * static_cast<size_t>(plan.size) * 3;
  const size_t chunk_bytes = static_cast<size_t>(chunk) * image_bytes;

  std::vector<uint8_t> buffers[2] = {std::vector<uint8_t>(static_cast<size_t>(block) * image_bytes),
                                     std::vector<uint8_t>(static_cast<size_t>(block) * image_bytes)};
  std::vector<StoredChunk> stored[2];
  const int64_t crash_after = crash_after_blocks();
  Progress progress(total);
  knots::RenderPool pool(plan.threads);

  auto begin_of = [&](int64_t b) { return b == 0 ? 0 : first_block_rows + (b - 1) * block; };
  auto request = [&](int64_t b) {
    const int64_t begin = begin_of(b), count = std::min(total, begin_of(b + 1)) - begin;
    knots::BlockRequest r;
    r.seed = plan.seed;
    r.first_index = plan.first_index + static_cast<uint64_t>(begin);
    r.labels = labels.data() + begin;
    r.count = count;
    r.size = plan.size;
    r.images = buffers[b % 2].data();
    if (compress) {
      // Groups end on chunk boundaries of the file; whole ones are compressed where rendered.
      const int64_t into_chunk = (start + begin) % chunk;
      r.group_rows = chunk;
      r.first_group_rows = into_chunk == 0 ? chunk : chunk - into_chunk;
      std::vector<StoredChunk>& slots = stored[b % 2];
      slots.assign(static_cast<size_t>(count / chunk + 2), StoredChunk{});
      uint8_t* images = r.images;
      const int64_t first_group = r.first_group_rows;
      const int level = plan.deflate;
      r.after_group = [&slots, images, first_group, chunk, chunk_bytes, image_bytes, level](int64_t g_begin, int64_t g_end) {
        if (g_end - g_begin != chunk) return;
        size_t g = g_begin == 0 ? 0 : static_cast<size_t>((g_begin - first_group) / chunk + 1);
        compress_chunk(images + static_cast<size_t>(g_begin) * image_bytes, chunk_bytes, level, slots[g]);
      };
    }
    return r;
  };

  knots::BlockRequest requests[2];
  if (blocks > 0) pool.start(requests[0] = request(0));
  for (int64_t b = 0; b < blocks; ++b) {
    pool.wait();
    if (b + 1 < blocks && !interrupted.load()) pool.start(requests[(b + 1) % 2] = request(b + 1));
    KN_CHECK(!interrupted.load(), "interrupted; ", plan.out.string(), plan.append ? " was left as it was" : " was not written");
    const knots::BlockRequest& done = requests[b % 2];
    if (!compress) {
      writer.append_rows(kDataName, done.images, done.count);
    } else {
      const std::vector<StoredChunk>& slots = stored[b % 2];
      for (int64_t row = 0, g = 0; row < done.count; ++g) {
        const int64_t rows = std::min(done.count - row, g == 0 ? done.first_group_rows : chunk);
        const StoredChunk& s = slots[static_cast<size_t>(g)];
        if (s.ready) writer.append_chunk(kDataName, s.bytes.data(), s.bytes.size(), s.filter_mask);
        else writer.append_rows(kDataName, done.images + static_cast<size_t>(row) * image_bytes, rows);
        row += rows;
      }
    }
    std::vector<uint8_t> encoded = encode_labels(plan.layout, done.labels, done.count);
    writer.append_rows(kLabelName, encoded.data(), done.count);
    progress.update(begin_of(b) + done.count);
    if (crash_after >= 0 && b + 1 == crash_after) std::raise(SIGKILL);
  }

  std::vector<int64_t> counts = plan.class_counts;
  for (uint8_t l : labels) counts[l]++;
  write_attributes(writer, plan.layout, plan.size, plan.seed, counts);
  writer.commit();
  progress.finish();
  return start + total;
}

}  // namespace knotnet::make_knots
