// Reading speed of the batch reader on a make_knots-like file: 20,000 knot diagrams of
// 128x128x3 (rendered by io/knots, sorted by class, chunks of 64 images), stored plain and with
// deflate level 4. Each iteration reads one whole epoch; counters give images/s and GB/s of
// delivered pixels. The reader in file order, shuffled, and the two alternated in one run (the
// ratio the issue asks for: shuffled / in order >= 0.8), against HDF5's own read path: 128-row
// slabs in order and batches of 128 random rows, one thread, the way h5py reads.
// KNOTNET_BENCH_READER_IMAGES overrides the image count; the files go to the temp directory
// and are removed at exit. KNOTNET_BENCH_READER_FILE=path reads an existing file instead (a
// full make_knots file, say), for both the plain and the compressed cases.
#include <benchmark/benchmark.h>

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "io/batch_reader.h"
#include "io/h5_handle.h"
#include "io/knots/knot_types.h"
#include "io/knots/render.h"

namespace {

using namespace knotnet;
namespace fs = std::filesystem;

constexpr int kSize = 128;
constexpr int64_t kImageBytes = kSize * kSize * 3;
constexpr int64_t kChunkRows = 64;
constexpr int64_t kBatch = 128;
constexpr int kUniquePerClass = 200;

struct BenchFiles {
  fs::path dir;
  std::string plain, deflated;
  int64_t n = 0;
  ~BenchFiles() {
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};

void write_file(const std::string& path, int64_t n, int deflate, const std::vector<std::vector<uint8_t>>& unique) {
  H5Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  hsize_t dims[4] = {static_cast<hsize_t>(n), kSize, kSize, 3}, chunk[4] = {kChunkRows, kSize, kSize, 3};
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_chunk(dcpl, 4, chunk);
  if (deflate > 0) H5Pset_deflate(dcpl, static_cast<unsigned>(deflate));
  H5Handle space(H5Screate_simple(4, dims, nullptr), H5Sclose);
  H5Handle data(H5Dcreate2(file, "train_data", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
  std::vector<uint8_t> labels(static_cast<size_t>(n));
  std::vector<uint8_t> slab(static_cast<size_t>(kChunkRows * kImageBytes));
  for (int64_t first = 0; first < n; first += kChunkRows) {
    const int64_t rows = std::min(kChunkRows, n - first);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t row = first + r;
      const int cls = static_cast<int>(row * 3 / n);  // sorted by class, as the original file was
      labels[static_cast<size_t>(row)] = static_cast<uint8_t>(cls);
      const auto& img = unique[static_cast<size_t>(cls * kUniquePerClass + row % kUniquePerClass)];
      std::copy(img.begin(), img.end(), slab.begin() + r * kImageBytes);
    }
    hsize_t start[4] = {static_cast<hsize_t>(first), 0, 0, 0}, count[4] = {static_cast<hsize_t>(rows), kSize, kSize, 3};
    H5Handle fs_(H5Dget_space(data), H5Sclose);
    H5Sselect_hyperslab(fs_, H5S_SELECT_SET, start, nullptr, count, nullptr);
    H5Handle ms(H5Screate_simple(4, count, nullptr), H5Sclose);
    H5Dwrite(data, H5T_NATIVE_UINT8, ms, fs_, H5P_DEFAULT, slab.data());
  }
  hsize_t ln = static_cast<hsize_t>(n);
  H5Handle lspace(H5Screate_simple(1, &ln, nullptr), H5Sclose);
  H5Handle label(H5Dcreate2(file, "train_label", H5T_STD_U8LE, lspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  H5Dwrite(label, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data());
}

const BenchFiles& files() {
  static BenchFiles f = [] {
    BenchFiles b;
    if (const char* given = std::getenv("KNOTNET_BENCH_READER_FILE")) {
      b.plain = b.deflated = given;
      b.n = ImageDataset(given).size();
      std::fprintf(stderr, "bench_reader: %s, %lld images\n", given, static_cast<long long>(b.n));
      return b;
    }
    const char* env = std::getenv("KNOTNET_BENCH_READER_IMAGES");
    b.n = env ? std::max<int64_t>(3 * kChunkRows, std::atoll(env)) : 20000;
    b.dir = fs::temp_directory_path() / ("knotnet-bench-reader-" + std::to_string(::getpid()));
    fs::create_directories(b.dir);
    std::vector<std::vector<uint8_t>> unique(3 * kUniquePerClass, std::vector<uint8_t>(kImageBytes));
    knots::RenderWorkspace ws;
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < kUniquePerClass; ++i)
        knots::render_sample(7, static_cast<uint64_t>(i), knots::class_from_label(c), kSize,
                             unique[static_cast<size_t>(c * kUniquePerClass + i)].data(), ws);
    b.plain = (b.dir / "plain.h5").string();
    b.deflated = (b.dir / "deflate4.h5").string();
    write_file(b.plain, b.n, 0, unique);
    write_file(b.deflated, b.n, 4, unique);
    std::fprintf(stderr, "bench_reader: %lld images of %dx%dx3: %.0f MiB plain, %.0f MiB deflated (level 4)\n",
                 static_cast<long long>(b.n), kSize, kSize, static_cast<double>(fs::file_size(b.plain)) / 1048576.0,
                 static_cast<double>(fs::file_size(b.deflated)) / 1048576.0);
    return b;
  }();
  return f;
}

const std::string& file_for(bool compressed) { return compressed ? files().deflated : files().plain; }

// One epoch through the reader; returns images delivered.
int64_t read_epoch(BatchReader& reader, int64_t epoch) {
  reader.start_epoch(epoch);
  Batch b;
  int64_t n = 0;
  while (reader.next(b)) {
    benchmark::DoNotOptimize(b.images.data);
    n += b.size;
  }
  return n;
}

void set_rate_counters(benchmark::State& state, int64_t images) {
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(images), benchmark::Counter::kIsRate);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(images * kImageBytes) / 1e9, benchmark::Counter::kIsRate);
}

std::vector<int64_t> all_rows(int64_t n) {
  std::vector<int64_t> rows(static_cast<size_t>(n));
  std::iota(rows.begin(), rows.end(), 0);
  return rows;
}

// The reader over the whole file: args (compressed, shuffled).
void BM_Reader(benchmark::State& state) {
  const bool compressed = state.range(0) != 0, shuffled = state.range(1) != 0;
  ImageDataset ds(file_for(compressed));
  ReaderOptions opt;
  opt.batch = kBatch;
  opt.shuffle = shuffled ? ShuffleMode::window : ShuffleMode::none;
  BatchReader reader(ds, all_rows(ds.size()), opt);
  int64_t images = 0, epoch = 0;
  for (auto _ : state) images += read_epoch(reader, epoch++);
  set_rate_counters(state, images);
  state.counters["threads"] = reader.threads();
  state.counters["buffer_MiB"] = static_cast<double>(reader.buffer_bytes()) / 1048576.0;
}
BENCHMARK(BM_Reader)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->ArgNames({"compressed", "shuffled"})
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// In-order and shuffled epochs alternated on one file, so that both see the same machine load:
// ratio = shuffled images/s / in-order images/s.
void BM_ShuffledOverInOrder(benchmark::State& state) {
  const bool compressed = state.range(0) != 0;
  ImageDataset ds(file_for(compressed));
  ReaderOptions opt;
  opt.batch = kBatch;
  BatchReader shuffled(ds, all_rows(ds.size()), opt);
  opt.shuffle = ShuffleMode::none;
  BatchReader in_order(ds, all_rows(ds.size()), opt);
  double t_shuffled = 0, t_in_order = 0;
  int64_t images = 0, epoch = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    images += read_epoch(in_order, epoch);
    auto t1 = std::chrono::steady_clock::now();
    read_epoch(shuffled, epoch++);
    auto t2 = std::chrono::steady_clock::now();
    t_in_order += std::chrono::duration<double>(t1 - t0).count();
    t_shuffled += std::chrono::duration<double>(t2 - t1).count();
  }
  state.counters["ratio"] = t_in_order / t_shuffled;
  state.counters["in_order_img/s"] = static_cast<double>(images) / t_in_order;
  state.counters["shuffled_img/s"] = static_cast<double>(images) / t_shuffled;
}
BENCHMARK(BM_ShuffledOverInOrder)->Arg(0)->Arg(1)->ArgName("compressed")->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

// HDF5's own path, one thread: 128-row slabs in file order (h5py's fast case).
void BM_Hdf5Slabs(benchmark::State& state) {
  const bool compressed = state.range(0) != 0;
  H5Handle file(H5Fopen(file_for(compressed).c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  H5Handle data(H5Dopen2(file, "train_data", H5P_DEFAULT), H5Dclose);
  const int64_t n = files().n;
  std::vector<uint8_t> buf(static_cast<size_t>(kBatch * kImageBytes));
  int64_t images = 0;
  for (auto _ : state) {
    for (int64_t first = 0; first < n; first += kBatch) {
      const int64_t rows = std::min(kBatch, n - first);
      hsize_t start[4] = {static_cast<hsize_t>(first), 0, 0, 0}, count[4] = {static_cast<hsize_t>(rows), kSize, kSize, 3};
      H5Handle fs_(H5Dget_space(data), H5Sclose);
      H5Sselect_hyperslab(fs_, H5S_SELECT_SET, start, nullptr, count, nullptr);
      H5Handle ms(H5Screate_simple(4, count, nullptr), H5Sclose);
      H5Dread(data, H5T_NATIVE_UINT8, ms, fs_, H5P_DEFAULT, buf.data());
      benchmark::DoNotOptimize(buf.data());
      images += rows;
    }
  }
  set_rate_counters(state, images);
}
BENCHMARK(BM_Hdf5Slabs)->Arg(0)->Arg(1)->ArgName("compressed")->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// HDF5's own path, one thread: batches of 128 random rows (h5py fancy indexing's equivalent).
void BM_Hdf5RandomBatches(benchmark::State& state) {
  const bool compressed = state.range(0) != 0;
  H5Handle file(H5Fopen(file_for(compressed).c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  H5Handle data(H5Dopen2(file, "train_data", H5P_DEFAULT), H5Dclose);
  const int64_t n = files().n;
  std::vector<uint8_t> buf(static_cast<size_t>(kBatch * kImageBytes));
  std::vector<int64_t> rows(kBatch);
  int64_t images = 0;
  uint64_t draw = 0;
  for (auto _ : state) {
    for (int64_t i = 0; i < kBatch; ++i) rows[static_cast<size_t>(i)] = static_cast<int64_t>(random_bits(5, 6, draw++) % static_cast<uint64_t>(n));
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
    H5Handle fs_(H5Dget_space(data), H5Sclose);
    H5Sselect_none(fs_);
    for (int64_t r : rows) {
      hsize_t start[4] = {static_cast<hsize_t>(r), 0, 0, 0}, count[4] = {1, kSize, kSize, 3};
      H5Sselect_hyperslab(fs_, H5S_SELECT_OR, start, nullptr, count, nullptr);
    }
    hsize_t mcount[4] = {rows.size(), kSize, kSize, 3};
    H5Handle ms(H5Screate_simple(4, mcount, nullptr), H5Sclose);
    H5Dread(data, H5T_NATIVE_UINT8, ms, fs_, H5P_DEFAULT, buf.data());
    benchmark::DoNotOptimize(buf.data());
    images += static_cast<int64_t>(rows.size());
    rows.resize(kBatch);
  }
  set_rate_counters(state, images);
}
BENCHMARK(BM_Hdf5RandomBatches)->Arg(0)->Arg(1)->ArgName("compressed")->Iterations(20)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
