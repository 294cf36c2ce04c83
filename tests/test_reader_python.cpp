// Files written the way users write them: with h5py (contiguous, or gzip with h5py's own
// chunking, which tiles images) and with PyTables (EArrays with zlib and shuffle, plain
// Arrays), in the original question's "seed" layout (flat uint8 rows, one-hot float32 labels)
// and as (N, H, W, C) images. Each is read through the batch reader and checked pixel by pixel.
// Skipped when /usr/bin/python3 lacks h5py or tables.
#include <gtest/gtest.h>

#include <numeric>
#include <string>

#include "io/batch_reader.h"
#include "tests/support/h5_fixtures.h"
#include "tests/support/test_support.h"

using namespace knotnet;
using namespace knotnet::test;

namespace {

constexpr int64_t kN = 300, kSide = 16, kElems = kSide * kSide * 3;

// The pixel formula both sides compute.
uint8_t pixel(int64_t row, int64_t i) { return static_cast<uint8_t>((row * 31 + i * 7 + (i * i) % 13) % 251 + 1); }
int32_t label(int64_t row) { return static_cast<int32_t>(row * 3 / kN); }

const char* kPythonPrelude = R"(
import sys, numpy as np
N, S = 300, 16
E = S * S * 3
rows = np.arange(N, dtype=np.int64)[:, None]
i = np.arange(E, dtype=np.int64)[None, :]
pixels = ((rows * 31 + i * 7 + (i * i) % 13) % 251 + 1).astype(np.uint8)   # (N, E)
labels = (np.arange(N) * 3 // N).astype(np.int64)
onehot = np.eye(3, dtype=np.float32)[labels]
path = sys.argv[1] if len(sys.argv) > 1 else OUT
)";

// Reads the whole file through the reader and checks every image and label.
void expect_file_reads_back(const std::string& path, bool expect_float = false) {
  ImageDataset ds(path);
  EXPECT_EQ(ds.size(), kN);
  EXPECT_EQ(ds.info().image_shape, (Shape{kSide, kSide, 3}));
  EXPECT_EQ(ds.classes(), 3);
  EXPECT_EQ(ds.info().data_dtype, expect_float ? "float32" : "uint8");
  std::vector<int64_t> all(kN);
  std::iota(all.begin(), all.end(), 0);
  ReaderOptions opt;
  opt.batch = 64;
  opt.threads = 2;
  BatchReader reader(ds, all, opt);
  reader.start_epoch(0);
  Batch b;
  int64_t seen = 0;
  while (reader.next(b)) {
    for (int64_t k = 0; k < b.size; ++k) {
      const int64_t row = b.rows[k];
      const uint8_t* img = b.images.as<uint8_t>() + k * kElems;
      for (int64_t i = 0; i < kElems; ++i) ASSERT_EQ(img[i], pixel(row, i)) << "row " << row << " element " << i;
      ASSERT_EQ(b.labels.as<int32_t>()[k], label(row)) << "row " << row;
      ++seen;
    }
  }
  EXPECT_EQ(seen, kN);
}

// Skips the test where /usr/bin/python3 lacks the module. A macro: GTEST_SKIP() in a helper
// function would return from the helper only, and the test would run on and fail.
#define KN_NEED_PYTHON_MODULE(module)                                                        \
  do {                                                                                       \
    if (!python_has(module)) GTEST_SKIP() << "/usr/bin/python3 has no " << (module);         \
  } while (0)

class ReaderPython : public ::testing::Test {
 protected:
  std::string write(const std::string& body) {
    const std::string out = (dir / "py.h5").string();
    std::string log;
    int rc = run_python(std::string("OUT = '") + out + "'\n" + kPythonPrelude + body, &log);
    EXPECT_EQ(rc, 0) << log;
    return out;
  }
  TempDir dir;
};

TEST_F(ReaderPython, H5pySeedLayoutContiguous) {
  KN_NEED_PYTHON_MODULE("h5py");
  expect_file_reads_back(write(R"(
import h5py
with h5py.File(path, 'w') as f:
    f.create_dataset('train_data', data=pixels)
    f.create_dataset('train_label', data=onehot)
)"));
}

TEST_F(ReaderPython, H5pySeedLayoutGzipAutoChunks) {
  KN_NEED_PYTHON_MODULE("h5py");
  std::string p = write(R"(
import h5py
with h5py.File(path, 'w') as f:
    f.create_dataset('train_data', data=pixels, compression='gzip', compression_opts=4)
    f.create_dataset('train_label', data=onehot, compression='gzip')
)");
  expect_file_reads_back(p);
  ImageDataset ds(p);
  EXPECT_TRUE(ds.info().direct);
  EXPECT_EQ(ds.info().deflate_level, 4);
}

TEST_F(ReaderPython, H5pyImagesTiledChunksIntegerLabels) {
  KN_NEED_PYTHON_MODULE("h5py");
  std::string p = write(R"(
import h5py
with h5py.File(path, 'w') as f:
    f.create_dataset('train_data', data=pixels.reshape(N, S, S, 3), compression='gzip', shuffle=True)
    f.create_dataset('train_label', data=labels)
    f['train_label'].attrs['class_names'] = ['unknot', 'trefoil+', 'trefoil-']
)");
  expect_file_reads_back(p);
  ImageDataset ds(p);
  EXPECT_EQ(ds.info().class_names, (std::vector<std::string>{"unknot", "trefoil+", "trefoil-"}));
}

TEST_F(ReaderPython, H5pyFloatImagesInUnitRange) {
  KN_NEED_PYTHON_MODULE("h5py");
  expect_file_reads_back(write(R"(
import h5py
with h5py.File(path, 'w') as f:
    f.create_dataset('train_data', data=(pixels / np.float32(255)).astype(np.float32).reshape(N, S, S, 3),
                     chunks=(50, S, S, 3))
    f.create_dataset('train_label', data=labels.astype(np.uint8))
)"), true);
}

TEST_F(ReaderPython, PyTablesSeedLayoutEArrayZlibShuffle) {
  KN_NEED_PYTHON_MODULE("tables");
  std::string p = write(R"(
import tables
with tables.open_file(path, 'w') as f:
    filters = tables.Filters(complevel=4, complib='zlib', shuffle=True)
    d = f.create_earray('/', 'train_data', tables.UInt8Atom(), shape=(0, E), filters=filters)
    l = f.create_earray('/', 'train_label', tables.Float32Atom(), shape=(0, 3), filters=filters)
    for start in range(0, N, 64):   # appended in pieces, as a writer would
        d.append(pixels[start:start + 64])
        l.append(onehot[start:start + 64])
)");
  expect_file_reads_back(p);
  ImageDataset ds(p);
  EXPECT_TRUE(ds.info().direct);
  EXPECT_EQ(ds.info().filters, (std::vector<std::string>{"shuffle", "deflate"}));
}

TEST_F(ReaderPython, PyTablesArrays) {
  KN_NEED_PYTHON_MODULE("tables");
  expect_file_reads_back(write(R"(
import tables
with tables.open_file(path, 'w') as f:
    f.create_array('/', 'train_data', pixels.reshape(N, S, S, 3))
    f.create_carray('/', 'train_label', obj=labels.astype(np.int32))
)"));
}

}  // namespace
