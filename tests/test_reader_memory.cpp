// The reader's memory is its buffers plus a constant, whatever the file's size: read a file ten
// times larger than the buffers and check that the process's peak resident memory grew by no
// more than the buffers and 8 MiB (labels, the epoch plan, thread stacks, allocator slack).
// Sanitizer builds keep freed memory in quarantine and shadow every byte, so they skip this.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <numeric>
#include <string>

#include "io/batch_reader.h"
#include "tests/support/h5_fixtures.h"
#include "tests/support/test_support.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KN_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define KN_UNDER_SANITIZER 1
#endif
#endif

using namespace knotnet;
using namespace knotnet::test;

namespace {

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"), or -1.
[[maybe_unused]] int64_t status_bytes(const std::string& field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
  return -1;
}

TEST(ReaderMemory, PeakResidentMemoryIsBuffersPlusAConstant) {
#ifdef KN_UNDER_SANITIZER
  GTEST_SKIP() << "resident memory is not meaningful under a sanitizer";
#else
  if (status_bytes("VmHWM") < 0) GTEST_SKIP() << "no /proc/self/status";
  TempDir dir;
  const std::string path = (dir / "big.h5").string();
  ImageFileSpec spec;
  spec.n = 9000;
  spec.height = spec.width = 64;  // 12 KiB images: about 105 MiB of pixels
  spec.chunk = {16, 64, 64, 3};
  spec.sorted = true;
  write_image_file(path, spec);
  ImageDataset ds(path);
  std::vector<int64_t> all(9000);
  std::iota(all.begin(), all.end(), 0);

  const int64_t before = status_bytes("VmRSS");
  std::ofstream("/proc/self/clear_refs") << "5";  // reset the peak to now, where the kernel allows it
  ReaderOptions opt;
  opt.batch = 32;
  opt.window_samples = 256;
  opt.threads = 2;
  BatchReader reader(ds, all, opt);
  const auto buffers = static_cast<int64_t>(reader.buffer_bytes());
  const int64_t file_bytes = spec.n * 64 * 64 * 3;
  ASSERT_GE(file_bytes, 10 * buffers) << "the file must be ten times the buffers";
  int64_t seen = 0;
  for (int e = 0; e < 2; ++e) {
    reader.start_epoch(e);
    Batch b;
    while (reader.next(b)) seen += b.size;
  }
  EXPECT_EQ(seen, 18000);
  const int64_t growth = status_bytes("VmHWM") - before;
  std::printf("peak resident memory grew by %.1f MiB; buffers %.1f MiB; file %.1f MiB\n", growth / 1048576.0,
              static_cast<double>(buffers) / 1048576.0, static_cast<double>(file_bytes) / 1048576.0);
  EXPECT_LE(growth, buffers + (int64_t{8} << 20))
      << "peak grew by " << growth << " bytes; buffers are " << buffers << ", the file " << file_bytes;
#endif
}

}  // namespace
