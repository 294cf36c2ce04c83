// The render/write pipeline. The one non-obvious choice: a test hook, the environment variable
// KNOTNET_MAKE_KNOTS_CRASH_AFTER_BLOCKS=k, makes the process SIGKILL itself right after writing
// its k-th block, so the tests can check what a crash mid-write leaves behind without racing
// a timer.
#include "apps/make_knots/generate.h"

#include <csignal>
#include <cstdlib>
#include <string>

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
}  // namespace

int64_t block_rows(int64_t chunk) { return ((255 + chunk) / chunk) * chunk; }

int64_t write_dataset(const Plan& plan, const std::vector<uint8_t>& labels, const std::atomic<bool>& interrupted) {
  H5AppendWriter writer = plan.append ? H5AppendWriter::append(plan.out, {kDataName, kLabelName})
                                      : H5AppendWriter::create(plan.out, layout_datasets(plan.layout, plan.size, plan.chunk, plan.deflate));
  KN_CHECK(writer.rows(kDataName) == static_cast<int64_t>(plan.first_index), plan.out.string(), " changed while make_knots read it");

  const int64_t total = static_cast<int64_t>(labels.size());
  const int64_t block = std::min<int64_t>(block_rows(plan.chunk), std::max<int64_t>(total, 1));
  const size_t image_bytes = static_cast<size_t>(plan.size) * static_cast<size_t>(plan.size) * 3;
  std::vector<uint8_t> buffers[2] = {std::vector<uint8_t>(static_cast<size_t>(block) * image_bytes),
                                     std::vector<uint8_t>(static_cast<size_t>(block) * image_bytes)};
  const int64_t crash_after = crash_after_blocks();
  Progress progress(total);
  knots::RenderPool pool(plan.threads);

  auto request = [&](int64_t b) {
    int64_t first = b * block;
    return knots::BlockRequest{plan.seed, plan.first_index + static_cast<uint64_t>(first), labels.data() + first,
                               std::min(block, total - first), plan.size, buffers[b % 2].data(), nullptr};
  };
  const int64_t blocks = (total + block - 1) / block;
  if (blocks > 0) pool.start(request(0));
  for (int64_t b = 0; b < blocks; ++b) {
    pool.wait();
    if (b + 1 < blocks && !interrupted.load()) pool.start(request(b + 1));
    KN_CHECK(!interrupted.load(), "interrupted; ", plan.out.string(),
             plan.append ? " was left as it was" : " was not written");
    const knots::BlockRequest done = request(b);
    writer.append_rows(kDataName, done.images, done.count);
    std::vector<uint8_t> encoded = encode_labels(plan.layout, done.labels, done.count);
    writer.append_rows(kLabelName, encoded.data(), done.count);
    progress.update(b * block + done.count);
    if (crash_after >= 0 && b + 1 == crash_after) std::raise(SIGKILL);
  }

  std::vector<int64_t> counts = plan.class_counts;
  for (uint8_t l : labels) counts[l]++;
  write_attributes(writer, plan.layout, plan.size, plan.seed, counts);
  writer.commit();
  progress.finish();
  return static_cast<int64_t>(plan.first_index) + total;
}

}  // namespace knotnet::make_knots
