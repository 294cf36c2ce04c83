// The make_knots tool end to end, run as a separate process: class balance and order, the bytes
// it writes (the renderer's, for any thread count), append, the seed layout, h5py reading the
// file, every bad input's message, and what a crash or an interrupt leaves behind.
// Images are 32x32 and counts small, so each run takes a fraction of a second.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unistd.h>

#include "engine/error.h"
#include "io/h5_writer.h"
#include "io/knots/render.h"
#include "tests/support/test_support.h"

namespace knotnet {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::string tool() { return (test::binary_dir() / "bin" / "make_knots").string(); }

int make_knots(const std::string& args, std::string* output = nullptr, const std::string& env = "") {
  std::string out;
  int rc = test::run_command(env + (env.empty() ? "" : " ") + tool() + " " + args, &out);
  if (output) *output = out;
  return rc;
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

std::vector<uint8_t> read_u8(const fs::path& path, const std::string& name) {
  H5FileView v(path);
  AppendableDataset d = v.dataset(name);
  std::vector<uint8_t> out(static_cast<size_t>(d.rows * d.row_elements()));
  v.read_rows(name, 0, d.rows, out.data());
  return out;
}

std::vector<float> read_f32(const fs::path& path, const std::string& name) {
  H5FileView v(path);
  AppendableDataset d = v.dataset(name);
  std::vector<float> out(static_cast<size_t>(d.rows * d.row_elements()));
  v.read_rows(name, 0, d.rows, out.data());
  return out;
}

std::string file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::vector<fs::path> partial_files(const fs::path& dir) {
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".partial-") != std::string::npos) found.push_back(e.path());
  return found;
}

// True when a reader checking the marker would refuse the file (or cannot open it at all).
bool rejected_by_readers(const fs::path& p) {
  try {
    return read_completeness(p) != Completeness::Complete;
  } catch (const Error&) {
    return true;
  }
}

std::vector<uint8_t> render(uint64_t seed, uint64_t index, int label, int size) {
  std::vector<uint8_t> img(static_cast<size_t>(size * size * 3));
  knots::RenderWorkspace ws;
  knots::render_sample(seed, index, knots::class_from_label(label), size, img.data(), ws);
  return img;
}

constexpr size_t kImage32 = 32 * 32 * 3;

TEST(MakeKnots, SortedFileHasBalancedClassesInOrderAndItsAttributes) {
  TempDir dir;
  std::string out;
  ASSERT_EQ(make_knots("--out " + q(dir / "k.h5") + " --per-class 25 --size 32 --seed 5 --threads 2", &out), 0) << out;
  EXPECT_NE(out.find("wrote 75 images"), std::string::npos) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos) << "a progress bar was drawn although stderr is not a terminal";

  H5FileView v(dir / "k.h5");
  AppendableDataset data = v.dataset("/train_data"), label = v.dataset("/train_label");
  EXPECT_EQ(data.rows, 75);
  EXPECT_EQ(data.row_shape, (std::vector<int64_t>{32, 32, 3}));
  EXPECT_EQ(data.element, H5Element::u8);
  EXPECT_EQ(data.chunk_rows, 64);
  EXPECT_EQ(data.deflate, 0);
  EXPECT_EQ(label.rows, 75);
  EXPECT_TRUE(label.row_shape.empty());
  EXPECT_EQ(label.element, H5Element::u8);
  EXPECT_EQ(v.int_attribute(kCompleteAttribute), 1);
  EXPECT_EQ(v.strings_attribute("class_names"), (std::vector<std::string>{"unknot", "plus_trefoil", "minus_trefoil"}));
  EXPECT_EQ(v.uint_attribute("seed"), 5u);
  EXPECT_EQ(v.int_attribute("generator_version"), knots::kGeneratorVersion);
  EXPECT_EQ(v.string_attribute("generator"), "knotnet make_knots");
  EXPECT_EQ(v.string_attribute("layout"), "native");
  EXPECT_EQ(v.int_attribute("image_size"), 32);
  EXPECT_EQ(v.ints_attribute("class_counts"), (std::vector<int64_t>{25, 25, 25}));

  std::vector<uint8_t> labels = read_u8(dir / "k.h5", "/train_label");
  for (size_t i = 0; i < labels.size(); ++i) ASSERT_EQ(labels[i], i / 25) << "row " << i;
  // The bytes are the renderer's: row r is sample r of its class under the seed.
  std::vector<uint8_t> images = read_u8(dir / "k.h5", "/train_data");
  for (size_t r : {0u, 24u, 25u, 49u, 50u, 74u})
    EXPECT_EQ(0, std::memcmp(images.data() + r * kImage32, render(5, r, labels[r], 32).data(), kImage32)) << "row " << r;
  EXPECT_TRUE(partial_files(dir.path()).empty());
}

TEST(MakeKnots, ShuffledOrderIsBalancedAndTheSameForAnyThreadCount) {
  TempDir dir;
  std::string out;
  ASSERT_EQ(make_knots("--out " + q(dir / "a.h5") + " --per-class 40 --size 32 --order shuffled --threads 1", &out), 0) << out;
  ASSERT_EQ(make_knots("--out " + q(dir / "b.h5") + " --per-class 40 --size 32 --order shuffled --threads 3", &out), 0) << out;
  ASSERT_EQ(make_knots("--out " + q(dir / "c.h5") + " --per-class 40 --size 32 --order shuffled --seed 2", &out), 0) << out;
  std::vector<uint8_t> a = read_u8(dir / "a.h5", "/train_label"), c = read_u8(dir / "c.h5", "/train_label");
  ASSERT_EQ(a.size(), 120u);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(std::count(a.begin(), a.end(), k), 40);
  EXPECT_FALSE(std::is_sorted(a.begin(), a.end()));
  // The first 40 rows are not one class: a real mix, not a rotation.
  EXPECT_GT(std::count(a.begin(), a.begin() + 40, 0), 5);
  EXPECT_LT(std::count(a.begin(), a.begin() + 40, 0), 25);
  EXPECT_EQ(a, read_u8(dir / "b.h5", "/train_label"));
  EXPECT_NE(a, c);
  EXPECT_EQ(read_u8(dir / "a.h5", "/train_data"), read_u8(dir / "b.h5", "/train_data"));
}

TEST(MakeKnots, AppendAddsExactlyWhatItSaysAndKeepsTheOldRows) {
  TempDir dir;
  fs::path f = dir / "k.h5";
  std::string out;
  ASSERT_EQ(make_knots("--out " + q(f) + " --per-class 20 --size 32 --seed 11", &out), 0) << out;
  std::vector<uint8_t> before = read_u8(f, "/train_data");
  ASSERT_EQ(make_knots("--out " + q(f) + " --per-class 10 --append --order shuffled", &out), 0) << out;
  EXPECT_NE(out.find("appended 30 images"), std::string::npos) << out;
  EXPECT_NE(out.find("holds 90"), std::string::npos) << out;

  H5FileView v(f);
  EXPECT_EQ(v.dataset("/train_data").rows, 90);
  EXPECT_EQ(v.dataset("/train_label").rows, 90);
  EXPECT_EQ(v.ints_attribute("class_counts"), (std::vector<int64_t>{30, 30, 30}));
  EXPECT_EQ(v.uint_attribute("seed"), 11u);
  EXPECT_EQ(read_completeness(f), Completeness::Complete);
  std::vector<uint8_t> after = read_u8(f, "/train_data"), labels = read_u8(f, "/train_label");
  EXPECT_EQ(0, std::memcmp(before.data(), after.data(), before.size())) << "appending changed the old rows";
  for (size_t r = 0; r < 60; ++r) EXPECT_EQ(labels[r], r / 20);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(std::count(labels.begin() + 60, labels.end(), k), 10);
  // New rows continue the global index under the file's seed: new samples, not repeats.
  for (size_t r = 60; r < 90; r += 7) {
    EXPECT_EQ(0, std::memcmp(after.data() + r * kImage32, render(11, r, labels[r], 32).data(), kImage32)) << "row " << r;
    EXPECT_NE(0, std::memcmp(after.data() + r * kImage32, after.data() + (r - 60) * kImage32, kImage32));
  }
  EXPECT_TRUE(partial_files(dir.path()).empty());
}

TEST(MakeKnots, SeedLayoutHasFlatImagesAndOneHotLabels) {
  TempDir dir;
  std::string out;
  ASSERT_EQ(make_knots("--out " + q(dir / "s.h5") + " --per-class 8 --size 32 --layout seed --seed 3", &out), 0) << out;
  ASSERT_EQ(make_knots("--out " + q(dir / "n.h5") + " --per-class 8 --size 32 --seed 3", &out), 0) << out;
  H5FileView v(dir / "s.h5");
  AppendableDataset data = v.dataset("/train_data"), label = v.dataset("/train_label");
  EXPECT_EQ(data.rows, 24);
  EXPECT_EQ(data.row_shape, (std::vector<int64_t>{32 * 32 * 3}));
  EXPECT_EQ(data.element, H5Element::u8);
  EXPECT_EQ(label.rows, 24);
  EXPECT_EQ(label.row_shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(label.element, H5Element::f32);
  EXPECT_EQ(v.string_attribute("layout"), "seed");
  std::vector<float> onehot = read_f32(dir / "s.h5", "/train_label");
  for (size_t r = 0; r < 24; ++r)
    for (size_t k = 0; k < 3; ++k) EXPECT_EQ(onehot[r * 3 + k], k == r / 8 ? 1.0f : 0.0f) << "row " << r;
  // Same samples as the native layout, only the dataset's shape differs.
  EXPECT_EQ(read_u8(dir / "s.h5", "/train_data"), read_u8(dir / "n.h5", "/train_data"));
}

TEST(MakeKnots, DeflatedFileHoldsTheSameImages) {
  // Whole chunks are compressed on the render threads, partial ones by HDF5: 300 rows in
  // chunks of 8 end inside a chunk, and the append starts inside it (row 300 = 37 * 8 + 4).
  TempDir dir;
  std::string out;
  ASSERT_EQ(make_knots("--out " + q(dir / "z.h5") + " --per-class 100 --size 32 --chunk 8 --deflate 3 --threads 3", &out), 0) << out;
  ASSERT_EQ(make_knots("--out " + q(dir / "z.h5") + " --per-class 5 --append --order shuffled", &out), 0) << out;
  ASSERT_EQ(make_knots("--out " + q(dir / "p.h5") + " --per-class 100 --size 32 --chunk 8", &out), 0) << out;
  ASSERT_EQ(make_knots("--out " + q(dir / "p.h5") + " --per-class 5 --append --order shuffled", &out), 0) << out;
  H5FileView v(dir / "z.h5");
  EXPECT_EQ(v.dataset("/train_data").deflate, 3);
  EXPECT_EQ(v.dataset("/train_data").rows, 315);
  EXPECT_EQ(read_u8(dir / "z.h5", "/train_data"), read_u8(dir / "p.h5", "/train_data"));
  EXPECT_EQ(read_u8(dir / "z.h5", "/train_label"), read_u8(dir / "p.h5", "/train_label"));
  EXPECT_LT(fs::file_size(dir / "z.h5"), fs::file_size(dir / "p.h5"));
}

bool have_h5py() { return test::run_command("/usr/bin/python3 -c 'import h5py'") == 0; }

TEST(MakeKnots, H5pyReadsBothLayouts) {
  if (!have_h5py()) GTEST_SKIP() << "/usr/bin/python3 has no h5py (Debian's python3-h5py)";
  TempDir dir;
  std::string out;
  ASSERT_EQ(make_knots("--out " + q(dir / "n.h5") + " --per-class 6 --size 32 --order shuffled", &out), 0) << out;
  ASSERT_EQ(make_knots("--out " + q(dir / "n.h5") + " --per-class 2 --append", &out), 0) << out;
  ASSERT_EQ(make_knots("--out " + q(dir / "s.h5") + " --per-class 6 --size 32 --layout seed", &out), 0) << out;
  std::string script =
      "import h5py, numpy as np, sys\n"
      "f = h5py.File(sys.argv[1], 'r'); g = h5py.File(sys.argv[2], 'r')\n"
      "d, l = f['train_data'], f['train_label']\n"
      "print(d.shape, d.dtype, l.shape, l.dtype, np.bincount(l[:]).tolist(), int(f.attrs['knotnet_complete']),\n"
      "      list(f.attrs['class_names']), int(d[:].astype(np.int64).sum() > 0))\n"
      "d, l = g['train_data'], g['train_label']\n"
      "print(d.shape, d.dtype, l.shape, l.dtype, l[:].sum(axis=0).tolist(), np.argmax(l[:], axis=1).tolist())\n";
  std::ofstream(dir / "read.py") << script;
  ASSERT_EQ(test::run_command("/usr/bin/python3 " + q(dir / "read.py") + " " + q(dir / "n.h5") + " " + q(dir / "s.h5"), &out), 0)
      << out;
  EXPECT_NE(out.find("(24, 32, 32, 3) uint8 (24,) uint8 [8, 8, 8] 1 ['unknot', 'plus_trefoil', 'minus_trefoil'] 1"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("(18, 3072) uint8 (18, 3) float32 [6.0, 6.0, 6.0] [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]"),
            std::string::npos)
      << out;
}

TEST(MakeKnots, BadInputsGetClearMessagesAndWriteNothing) {
  TempDir dir;
  fs::path existing = dir / "existing.h5";
  std::string out;
  ASSERT_EQ(make_knots("--out " + q(existing) + " --per-class 3 --size 32", &out), 0) << out;
  std::ofstream(dir / "plain.txt") << "not a directory, not HDF5";
  {  // An HDF5 file that make_knots did not write.
    auto w = H5AppendWriter::create(dir / "foreign.h5", {AppendableDataset{"/train_data", H5Element::u8, {32, 32, 3}, 8, 0, 0},
                                                          AppendableDataset{"/train_label", H5Element::u8, {}, 8, 0, 0}});
    w.commit();
  }
  const std::string nu = q(dir / "new.h5");
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"--out " + q(existing) + " --per-class 3", "already exists (pass --append"},
      {"--out " + q(dir / "missing" / "x.h5") + " --per-class 3", "does not exist"},
      {"--out " + q(dir / "plain.txt" / "x.h5") + " --per-class 3", "is not a directory"},
      {"--out " + nu + " --per-class 0", "--per-class must be at least 1"},
      {"--out " + nu + " --per-class -4", "--per-class must be at least 1 image per class, got -4"},
      {"--out " + nu, "--per-class N is required"},
      {"--out " + nu + " --per-class 3 --bogus", "--bogus"},
      {"--out " + nu + " --per-class 3 --order random", "--order must be sorted or shuffled, got random"},
      {"--out " + nu + " --per-class 3 --layout flat", "layout must be native or seed, got flat"},
      {"--out " + nu + " --per-class 3 --deflate 10", "--deflate must be a level from 0 (none) to 9"},
      {"--out " + nu + " --per-class 3 --size 8", "--size must be between 32 and 1024"},
      {"--out " + nu + " --per-class 3 --threads -2", "--threads must be 0"},
      {"--out " + nu + " --per-class 3 --chunk 0", "--chunk must be at least 1"},
      {"--out " + nu + " --per-class 3 --append", "does not exist (leave out --append"},
      {"--out " + q(existing) + " --per-class 3 --append --layout seed", "layout mismatch"},
      {"--out " + q(existing) + " --per-class 3 --append --size 64", "image size mismatch"},
      {"--out " + q(existing) + " --per-class 3 --append --seed 77", "seed mismatch"},
      {"--out " + q(existing) + " --per-class 3 --append --chunk 16", "chunking is fixed"},
      {"--out " + q(dir / "plain.txt") + " --per-class 3 --append", "is not an HDF5 file"},
      {"--out " + q(dir / "foreign.h5") + " --per-class 3 --append", "was not written by make_knots"},
      {"--per-class 3", "nothing to do"},
  };
  const std::string before = file_bytes(existing);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    int rc = make_knots(c.args, &out);
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find(c.message), std::string::npos) << out;
    EXPECT_EQ(out.find("terminate called"), std::string::npos) << out;
    EXPECT_FALSE(fs::exists(dir / "new.h5"));
  }
  EXPECT_EQ(file_bytes(existing), before);
  EXPECT_TRUE(partial_files(dir.path()).empty());
  if (::geteuid() != 0) {  // root writes anywhere
    fs::create_directory(dir / "locked");
    fs::permissions(dir / "locked", fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_NE(make_knots("--out " + q(dir / "locked" / "x.h5") + " --per-class 3", &out), 0);
    EXPECT_NE(out.find("Permission denied"), std::string::npos) << out;
    fs::permissions(dir / "locked", fs::perms::owner_all);
  }
}

// KNOTNET_MAKE_KNOTS_CRASH_AFTER_BLOCKS=k makes the tool SIGKILL itself after its k-th block.
TEST(MakeKnots, CrashWhileCreatingLeavesNoFileThatLooksComplete) {
  TempDir dir;
  std::string out;
  int rc = make_knots("--out " + q(dir / "k.h5") + " --per-class 300 --size 32", &out, "KNOTNET_MAKE_KNOTS_CRASH_AFTER_BLOCKS=1");
  EXPECT_EQ(rc, 128 + 9) << out;
  EXPECT_FALSE(fs::exists(dir / "k.h5"));
  auto partial = partial_files(dir.path());
  ASSERT_EQ(partial.size(), 1u);
  EXPECT_TRUE(rejected_by_readers(partial[0]));
  // The leftover does not block the next run.
  ASSERT_EQ(make_knots("--out " + q(dir / "k.h5") + " --per-class 3 --size 32", &out), 0) << out;
}

TEST(MakeKnots, CrashWhileAppendingLeavesThePreviousFileIntact) {
  TempDir dir;
  fs::path f = dir / "k.h5";
  std::string out;
  ASSERT_EQ(make_knots("--out " + q(f) + " --per-class 20 --size 32", &out), 0) << out;
  const std::string before = file_bytes(f);
  int rc = make_knots("--out " + q(f) + " --per-class 300 --append", &out, "KNOTNET_MAKE_KNOTS_CRASH_AFTER_BLOCKS=2");
  EXPECT_EQ(rc, 128 + 9) << out;
  EXPECT_EQ(file_bytes(f), before) << "the crash changed the original file";
  EXPECT_EQ(read_completeness(f), Completeness::Complete);
  auto partial = partial_files(dir.path());
  ASSERT_EQ(partial.size(), 1u);
  EXPECT_TRUE(rejected_by_readers(partial[0]));
  // And the tool refuses to append to a file marked incomplete.
  EXPECT_NE(make_knots("--out " + q(partial[0]) + " --per-class 3 --append", &out), 0);
  EXPECT_NE(out.find("marked incomplete"), std::string::npos) << out;
}

TEST(MakeKnots, InterruptRemovesTheTemporaryFile) {
  TempDir dir;
  std::string out;
  // A run far too long to finish, stopped with SIGTERM once its temporary file exists (the
  // signal handlers are installed by then). A shell's background job ignores SIGINT, so TERM.
  std::string cmd = "(" + tool() + " --out " + q(dir / "k.h5") + " --per-class 1000000 --size 32 --threads 1 & pid=$!; " +
                    "for i in $(seq 400); do ls " + q(dir.path()) + " | grep -q partial && break; sleep 0.05; done; " +
                    "kill -TERM $pid; wait $pid)";
  int rc = test::run_command(cmd, &out);
  EXPECT_EQ(rc, 130) << out;
  EXPECT_NE(out.find("interrupted; "), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "k.h5"));
  EXPECT_TRUE(partial_files(dir.path()).empty()) << out;
}

TEST(MakeKnots, PreviewIsAPng) {
  TempDir dir;
  std::string out;
  ASSERT_EQ(make_knots("--preview " + q(dir / "p.png") + " --preview-count 2 --size 48", &out), 0) << out;
  ASSERT_EQ(make_knots("--out " + q(dir / "k.h5") + " --per-class 4 --size 32 --preview " + q(dir / "q.png"), &out), 0) << out;
  for (const char* name : {"p.png", "q.png"}) {
    std::string bytes = file_bytes(dir / name);
    ASSERT_GT(bytes.size(), 1000u) << name;
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << name;
  }
  EXPECT_NE(make_knots("--preview " + q(dir / "missing" / "p.png"), &out), 0);
  EXPECT_NE(out.find("cannot create PNG file"), std::string::npos) << out;
}

}  // namespace
}  // namespace knotnet
