// One epoch's order over a split, planned from the labels alone before any pixel is read.
//
// The method, and why: reading rows at random is slow, reading in file order is fast and, on a
// file sorted by class, gives batches of one class. So the plan reads whole blocks (the file's
// chunks), each exactly once, in an order that is random but *interleaved by class*: blocks are
// grouped by their majority class, each group is shuffled, and the groups are merged by stride
// scheduling, always taking next from the group furthest behind its share. Any run of
// consecutive blocks then holds the classes in the split's proportions to within about one
// block. Consecutive blocks are cut into windows of nearly equal size, at most about M images,
// and the images of each window are put in a uniformly random order. A batch is thus a random
// draw from a window whose class mix is nearly the split's, which is what makes batches mix the
// classes as well as random batches do; M is sized from the file (mixing_window_samples) so
// that "nearly" is close enough for a chi-square test at the 1% level. The reader holds two
// windows of batches in memory (one being consumed, one being filled), never the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace knotnet {

enum class ShuffleMode : uint8_t { none, window };
const char* shuffle_mode_name(ShuffleMode m);
// "window" (also "on", "shuffle") or "none"; throws otherwise.
ShuffleMode parse_shuffle_mode(const std::string& text);

struct EpochPlan {
  int64_t batch = 0;    // batch size b
  int64_t samples = 0;  // positions in the epoch (fewer than the split's rows with drop_last)
  std::vector<int64_t> order;  // (samples) file row at each position; batch k is [k*b, k*b + b)

  // Blocks in the order they are read. Block i's rows go to positions:
  //   entry_row[j] (row within the block) -> entry_pos[j], for j in [block_begin[i], block_begin[i+1]).
  std::vector<int64_t> block_ids;
  std::vector<int64_t> block_begin;  // (blocks + 1)
  std::vector<int32_t> entry_row;
  std::vector<int64_t> entry_pos;
  // The last batch that holds an image of block i's window: block i can only be read once
  // batches up to this one have buffers.
  std::vector<int64_t> block_need;
  // Window boundaries, as positions: window w covers [window_begin[w], window_begin[w+1]).
  std::vector<int64_t> window_begin;

  int64_t batches() const { return batch > 0 ? (samples + batch - 1) / batch : 0; }
  int64_t batch_size(int64_t k) const;
  int64_t blocks() const { return static_cast<int64_t>(block_ids.size()); }
  // Most batches any one window's positions touch.
  int64_t max_window_batches() const;
};

struct PlanOptions {
  int64_t batch = 128;
  int64_t window_samples = 0;  // M; 0: mixing_window_samples() for these rows
  ShuffleMode mode = ShuffleMode::window;
  bool drop_last = false;      // drop a last, smaller batch
  uint64_t seed = 42;
};

// rows: the split's file rows, ascending; labels: (N) class of every file row.
EpochPlan plan_epoch(const std::vector<int64_t>& rows, const std::vector<int32_t>& labels, int classes,
                     int64_t block_rows, const PlanOptions& options, int64_t epoch);

// The window size M (images) that lets batches of `batch` mix like random ones over these rows:
// at least 8 batches, and for blocks dominated by one class enough blocks that a window's class
// mix is within the chi-square test's tolerance (see the .cpp for the formula).
int64_t mixing_window_samples(const std::vector<int64_t>& rows, const std::vector<int32_t>& labels, int classes,
                              int64_t block_rows, int64_t batch);

// Batches a window of up to `window_samples` images can touch, given blocks of block_rows rows.
int64_t window_batch_span(int64_t window_samples, int64_t block_rows, int64_t batch);

}  // namespace knotnet
