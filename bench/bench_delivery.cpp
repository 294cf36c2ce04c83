// The batch reader delivering to device memory: whole epochs of an existing file, shuffled and in
// file order, read into a pinned ring (delivery/pinned_host_allocator.h), each batch copied into
// a CUDA model's device staging slot on the copy stream (delivery/cuda_batch_delivery.h) and
// consumed there with Model::evaluate_on_device_batch: the compute stream waits on the copy's
// event, converts the uint8 pixels to float (/255) and the labels to one-hot, and runs a tiny
// model (flatten, dense K, softmax) whose loss the host reads back. So images/s counts images
// delivered into device memory and converted, with one host wait per batch (for the loss), the
// same cadence as a training step. The dense layer's cost is included; it is small next to the
// copy (a 128 x H*W*C by H*W*C x K product).
//
// KNOTNET_BENCH_READER_FILE=path names the file (required; a make_knots file, say). Without the
// CUDA backend or a visible device every case skips with the reason, and the program exits 0.
// One untimed epoch runs before the timed ones (first kernel launches, first touch of the ring).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <exception>
#include <numeric>
#include <string>
#include <vector>

#include "delivery/cuda_batch_delivery.h"
#include "delivery/pinned_host_allocator.h"
#include "engine/cuda_context.h"
#include "engine/model.h"
#include "engine/spec.h"
#include "io/batch_reader.h"
#include "io/h5_dataset.h"

namespace {

using namespace knotnet;

constexpr int64_t kBatch = 128;

// Why this benchmark cannot run here, or empty when it can.
std::string why_not_runnable() {
#ifndef KNOTNET_HAVE_CUDA
  return "this build has no CUDA backend (configure with -DKNOTNET_CUDA=ON)";
#else
  if (!cuda_device_present()) return "no CUDA device is visible on this machine";
  if (!std::getenv("KNOTNET_BENCH_READER_FILE"))
    return "set KNOTNET_BENCH_READER_FILE to the HDF5 file to read (a make_knots file, say)";
  return {};
#endif
}

// The smallest model that reads the whole input: its device staging is what batches land in.
std::string tiny_spec(const ImageDataset& ds) {
  const Shape& s = ds.info().image_shape;  // (H, W, C)
  return "input " + std::to_string(s[0]) + " " + std::to_string(s[1]) + " " + std::to_string(s[2]) +
         "\nflatten\ndense " + std::to_string(ds.classes()) + "\nsoftmax\n";
}

// One epoch, every batch consumed on the device; returns the images delivered.
int64_t deliver_epoch(BatchReader& reader, const CudaBatchDelivery& delivery, Model& model, int64_t epoch) {
  reader.start_epoch(epoch);
  Batch b;
  int64_t n = 0;
  while (reader.next(b)) {
    LossResult r = model.evaluate_on_device_batch(delivery.last());
    benchmark::DoNotOptimize(r);
    n += b.size;
  }
  return n;
}

// args (shuffled): 1 window-shuffled epochs, 0 file order.
void BM_ReaderToDevice(benchmark::State& state) {
  if (const std::string why = why_not_runnable(); !why.empty()) {
    state.SkipWithError(why.c_str());
    return;
  }
  try {
    const bool shuffled = state.range(0) != 0;
    ImageDataset ds(std::getenv("KNOTNET_BENCH_READER_FILE"));
    ModelOptions mo;
    mo.batch = kBatch;
    mo.device = Device::cuda;
    Model model(parse_spec(tiny_spec(ds), "bench_delivery's model"), mo);
    CudaBatchDelivery delivery(model.device_staging());  // outlives the reader
    ReaderOptions ro;
    ro.batch = kBatch;
    ro.shuffle = shuffled ? ShuffleMode::window : ShuffleMode::none;
    ro.allocator = &pinned_host_allocator();
    ro.delivery = &delivery;
    std::vector<int64_t> rows(static_cast<size_t>(ds.size()));
    std::iota(rows.begin(), rows.end(), int64_t{0});
    BatchReader reader(ds, std::move(rows), ro);

    int64_t epoch = 0;
    deliver_epoch(reader, delivery, model, epoch++);  // warm-up, untimed
    int64_t images = 0;
    for (auto _ : state) images += deliver_epoch(reader, delivery, model, epoch++);

    const double bytes = static_cast<double>(images) * static_cast<double>(ds.sample_bytes());
    state.counters["images/s"] = benchmark::Counter(static_cast<double>(images), benchmark::Counter::kIsRate);
    state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
    state.counters["threads"] = reader.threads();
    state.counters["ring_MiB"] = static_cast<double>(reader.buffer_bytes()) / 1048576.0;
    state.SetLabel(ds.info().path + ", " + std::to_string(ds.size()) + " images, " + reader.allocator_name());
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}
BENCHMARK(BM_ReaderToDevice)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("shuffled")
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
