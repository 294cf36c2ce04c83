// knotnet's whole training step on the GPU: train_on_batch (upload of the uint8 batch,
// conversion, forward, loss, backward, Adagrad update, the read-back of the loss) for the seed
// model at 128x128x3, batch 50, 128 and 256: strict fp32 and with TF32 allowed in cuDNN's
// convolutions (ModelOptions::tf32; the dense SGEMM and the implicit GEMM stay fp32), the
// convolutions chosen by timing when the model is built (measured: cuDNN's algorithms against the
// implicit GEMM per direction, the default), by cuDNN's heuristics, or the implicit GEMM alone;
// batchnorm -> relu -> maxpool fused (the default), and unfused at batch 128 for comparison. The
// build_ms counter is the row's first construction of its model, timing included (a row whose
// convolutions another row timed already takes them from the cache: see which rows ran first).
// Same model and optimizer as bench/torch_step.py, whose figures scripts/gpu-check prints beside
// these. Non-obvious choice: the batch is uploaded from pinned host memory inside the timed
// step (PyTorch's baseline keeps its data on the GPU; pinned uint8 is ~6 MB at batch 128, a
// ~0.1 ms copy at 55 GB/s), so the figure is what `fit` would see with a pinned reader.
// Timing: CUDA events on the compute stream around each step (manual time). Counters:
// images_per_s, arena_MiB (the memory plan: every buffer knotnet holds) and device_used_MiB
// (cudaMemGetInfo after the first step: arena, CUDA context and cuDNN handle).
// The fit_steps rows run steps as `fit` does on the GPU instead: each batch uploaded into the
// model's device staging on the copy stream, then the step, pipelined (step k+1 submitted before
// step k's loss is collected, as the trainer does) or one at a time (train_on_device_batch, so
// the GPU idles while the host collects and submits); timed by the wall clock over blocks of 16
// steps, each ending with every step collected, so that both rows pay for every step they count;
// host gaps included, so the two rows' ratio is the pipeline's gain.
// The enqueue rows split one step into the host's time and the GPU's, for the CUDA-graph question
// (docs/cuda_backend.md, "What is not done yet", item 4): the compute stream is first given about
// 16 GiB of memset to do, so it is busy while the host enqueues the step; host_enqueue_ms is the
// wall time of submit_train_step (enqueueing only, no wait), gpu_ms the events' time around it,
// which starts when the memsets end (the GPU's time for the step alone, launch gaps included).
// stream_ran_dry is the fraction of steps whose start event had already passed when the host
// finished enqueueing (the memsets were too short to cover the host): their gpu_ms is not the
// GPU's alone. images_per_s on these rows is from gpu_ms (GPU time only), not a step's wall time.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "bench/cuda_bench.h"
#include "engine/cuda_context.h"
#include "engine/layers/conv.h"
#include "engine/model.h"
#include "io/toy_data.h"

#ifdef KNOTNET_HAVE_CUDA
#include "engine/cuda_check.h"

namespace {

using namespace knotnet;

// The seed spec with every conv line ending in `algo` ("" keeps cuDNN).
ModelSpec seed_with(const std::string& algo) {
  const ModelSpec base = load_spec("seed");
  std::string text = "input 128 128 3\n";
  for (const LayerSpec& l : base.layers) text += l.text() + (l.kind == "conv" && !algo.empty() ? " " + algo : "") + "\n";
  return parse_spec(text, "seed");
}

// Pinned host memory for the batch (the benchmark's own; the engine never allocates it).
struct Pinned {
  void* p = nullptr;
  explicit Pinned(size_t bytes) { KN_CUDA_CHECK(cudaMallocHost(&p, bytes)); }
  ~Pinned() { cudaFreeHost(p); }
  Pinned(const Pinned&) = delete;
  Pinned& operator=(const Pinned&) = delete;
};

// Device memory and an event outside the model's plan (the benchmark's own), freed on any exit.
struct DeviceMemory {
  void* p = nullptr;
  explicit DeviceMemory(size_t bytes) { KN_CUDA_CHECK(cudaMalloc(&p, bytes)); }
  ~DeviceMemory() { cudaFree(p); }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
};
struct Event {
  cudaEvent_t e = nullptr;
  Event() { KN_CUDA_CHECK(cudaEventCreate(&e)); }
  ~Event() { cudaEventDestroy(e); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};

// The optimizer of bench/torch_step.py.
ModelOptions step_options(int64_t batch) {
  ModelOptions opt;
  opt.batch = batch;
  opt.device = Device::cuda;
  opt.optimizer.name = "adagrad";
  opt.optimizer.lr = 0.01;
  return opt;
}

// One toy batch of 128x128x3 uint8 images and their labels in pinned memory, as a pinned
// reader's ring holds them.
struct PinnedBatch {
  ToyBatch toy;
  Pinned images, labels;
  Tensor x, y;
  explicit PinnedBatch(int64_t batch)
      : toy(make_toy_batch(0, batch, 128, 128, 1)),
        images(toy.images.size()),
        labels(toy.labels.size() * sizeof(int32_t)),
        x(images.p, Shape{batch, 128, 128, 3}, DType::u8),
        y(labels.p, Shape{batch}, DType::i32) {
    std::memcpy(images.p, toy.images.data(), toy.images.size());
    std::memcpy(labels.p, toy.labels.data(), toy.labels.size() * sizeof(int32_t));
  }
};

// The convolutions' algorithms, once per configuration (at batch 128), for the log.
void print_algorithms(const std::string& row, const Model& model) {
  for (const auto& layer : model.layers())
    if (const auto* conv = dynamic_cast<const ConvLayer*>(layer.get()))
      std::fprintf(stderr, "%s %s: %s\n", row.c_str(), conv->name().c_str(), conv->device_algorithms().c_str());
}

void step_body(benchmark::State& state, const char* algo, bool tf32, bool fuse, bool deterministic,
               ConvSearch search) {
  const int64_t batch = state.range(0);
  ModelOptions opt = step_options(batch);
  opt.tf32 = tf32;
  opt.fuse = fuse;
  opt.cudnn_deterministic = deterministic;
  opt.conv_search = search;
  const auto built = std::chrono::steady_clock::now();
  Model model(seed_with(algo), opt);
  // The first build of each row: later ones (the benchmark library runs a body more than once)
  // take the convolutions' timings from the process's cache.
  static std::map<std::string, double> first_build_ms;
  const double build_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - built).count();
  const std::string row = std::string(algo) + (tf32 ? " tf32" : " fp32") + (fuse ? "" : " unfused") +
                          (deterministic ? "" : " fastest") + " " + conv_search_name(search) + " " +
                          std::to_string(batch);
  state.counters["build_ms"] = first_build_ms.emplace(row, build_ms).first->second;
  if (batch == 128 && !*algo)
    print_algorithms(std::string(tf32 ? "tf32 " : "fp32 ") + conv_search_name(search) +
                         (deterministic ? " deterministic-first" : " fastest") + (fuse ? "" : " unfused"),
                     model);
  const PinnedBatch pinned(batch);
  const Tensor &x = pinned.x, &y = pinned.y;

  cudaStream_t stream = CudaContext::get().compute();
  for (int i = 0; i < 3; ++i) model.train_on_batch(x, y);  // warm-up: cuDNN, caches, clocks
  size_t free_b = 0, total_b = 0;
  KN_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  cudaEvent_t start, stop;
  KN_CUDA_CHECK(cudaEventCreate(&start));
  KN_CUDA_CHECK(cudaEventCreate(&stop));
  for (auto _ : state) {
    KN_CUDA_CHECK(cudaEventRecord(start, stream));
    benchmark::DoNotOptimize(model.train_on_batch(x, y).loss);  // ends with a wait on the stream
    KN_CUDA_CHECK(cudaEventRecord(stop, stream));
    KN_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    KN_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms / 1e3);
  }
  KN_CUDA_CHECK(cudaEventDestroy(start));
  KN_CUDA_CHECK(cudaEventDestroy(stop));
  state.counters["images_per_s"] =
      benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["arena_MiB"] = double(model.plan().total_bytes()) / (1 << 20);
  state.counters["device_used_MiB"] = double(total_b - free_b) / (1 << 20);
  state.counters["batch"] = double(batch);
}

void fit_steps_body(benchmark::State& state, bool pipelined, bool tf32) {
  constexpr int kSteps = 16;  // steps per timed iteration, which ends with every step collected
  const int64_t batch = state.range(0);
  ModelOptions opt = step_options(batch);
  opt.tf32 = tf32;
  Model model(seed_with(""), opt);
  const PinnedBatch pinned(batch);
  const Tensor &x = pinned.x, &y = pinned.y;
  DeviceStaging& staging = model.device_staging();
  for (int i = 0; i < 3; ++i) model.train_on_device_batch(staging.upload(x, y));  // warm-up
  for (auto _ : state) {
    for (int k = 0; k < kSteps; ++k) {
      const DeviceBatch db = staging.upload(x, y);
      if (!pipelined) {
        benchmark::DoNotOptimize(model.train_on_device_batch(db).loss);
        continue;
      }
      model.submit_train_step(db);
      if (model.steps_in_flight() == Model::kMaxStepsInFlight) benchmark::DoNotOptimize(model.collect_step().loss);
    }
    while (model.steps_in_flight() > 0) benchmark::DoNotOptimize(model.collect_step().loss);
  }
  state.counters["images_per_s"] =
      benchmark::Counter(double(batch * kSteps), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["arena_MiB"] = double(model.plan().total_bytes()) / (1 << 20);
  state.counters["batch"] = double(batch);
}

void enqueue_body(benchmark::State& state, bool tf32) {
  constexpr size_t kBusyBytes = size_t{1} << 30;
  constexpr int kBusyMemsets = 16;  // ~5 ms of memset at 3 TB/s, far longer than enqueueing a step
  const int64_t batch = state.range(0);
  ModelOptions opt = step_options(batch);
  opt.tf32 = tf32;
  Model model(seed_with(""), opt);
  const PinnedBatch pinned(batch);
  DeviceStaging& staging = model.device_staging();
  for (int i = 0; i < 3; ++i) model.train_on_device_batch(staging.upload(pinned.x, pinned.y));  // warm-up
  const DeviceMemory busy(kBusyBytes);
  cudaStream_t stream = CudaContext::get().compute();
  const Event start, stop;
  double host_ms = 0, gpu_ms = 0;
  int64_t steps = 0, ran_dry = 0;
  for (auto _ : state) {
    const DeviceBatch db = staging.upload(pinned.x, pinned.y);
    for (int i = 0; i < kBusyMemsets; ++i) KN_CUDA_CHECK(cudaMemsetAsync(busy.p, i, kBusyBytes, stream));
    KN_CUDA_CHECK(cudaEventRecord(start.e, stream));
    const auto t0 = std::chrono::steady_clock::now();
    model.submit_train_step(db);
    const double host = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const cudaError_t q = cudaEventQuery(start.e);
    if (q == cudaSuccess) ++ran_dry;
    else if (q != cudaErrorNotReady) KN_CUDA_CHECK(q);
    KN_CUDA_CHECK(cudaEventRecord(stop.e, stream));
    benchmark::DoNotOptimize(model.collect_step().loss);
    KN_CUDA_CHECK(cudaEventSynchronize(stop.e));
    float ms = 0;
    KN_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e, stop.e));
    state.SetIterationTime(ms / 1e3);
    host_ms += host, gpu_ms += ms, ++steps;
  }
  state.counters["host_enqueue_ms"] = steps ? host_ms / static_cast<double>(steps) : 0.0;
  state.counters["gpu_ms"] = steps ? gpu_ms / static_cast<double>(steps) : 0.0;
  state.counters["stream_ran_dry"] = steps ? static_cast<double>(ran_dry) / static_cast<double>(steps) : 0.0;
  state.counters["steps"] = static_cast<double>(steps);
  state.counters["images_per_s"] =
      benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["batch"] = double(batch);
}

}  // namespace

void enqueue(benchmark::State& state, bool tf32) {
  knotnet::bench::skip_on_error(state, [&] { enqueue_body(state, tf32); });
}

void fit_steps(benchmark::State& state, bool pipelined, bool tf32 = false) {
  knotnet::bench::skip_on_error(state, [&] { fit_steps_body(state, pipelined, tf32); });
}

void step(benchmark::State& state, const char* algo, bool tf32, bool fuse, bool deterministic = true,
          ConvSearch search = ConvSearch::measured) {
  knotnet::bench::skip_on_error(state, [&] { step_body(state, algo, tf32, fuse, deterministic, search); });
}

// measured: each convolution direction on whichever of cuDNN's algorithms and the implicit GEMM
// timed fastest when the model was built (the default); heuristic: cuDNN's heuristics for every
// direction (the default before timing); implicit: the hand-written convolution everywhere.
BENCHMARK_CAPTURE(step, seed_fp32_measured, "", false, true)
    ->Arg(50)->Arg(128)->Arg(256)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_CAPTURE(step, seed_fp32_heuristic, "", false, true, true, ConvSearch::heuristic)
    ->Arg(50)->Arg(128)->Arg(256)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_CAPTURE(step, seed_fp32_implicit, "implicit", false, true)
    ->Arg(128)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_CAPTURE(step, seed_tf32_measured, "", true, true)
    ->Arg(50)->Arg(128)->Arg(256)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK_CAPTURE(step, seed_tf32_heuristic, "", true, true, true, ConvSearch::heuristic)
    ->Arg(128)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
// Timing among all of cuDNN's algorithms, not preferring deterministic ones.
BENCHMARK_CAPTURE(step, seed_fp32_measured_fastest, "", false, true, false)
    ->Arg(128)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
// The same in TF32 (fit --tf32 --nondeterministic): the second H100 run's heuristics took
// conv_1's non-deterministic weight gradient and beat deterministic timing by 25%.
BENCHMARK_CAPTURE(step, seed_tf32_measured_fastest, "", true, true, false)
    ->Arg(128)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
// The unfused GPU path (batchnorm, relu and maxpool as three layers), for the fusion's gain.
BENCHMARK_CAPTURE(step, seed_fp32_measured_unfused, "", false, false)
    ->Arg(128)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

BENCHMARK_CAPTURE(fit_steps, seed_fp32_measured_pipelined, true)
    ->Arg(128)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK_CAPTURE(fit_steps, seed_fp32_measured_one_at_a_time, false)
    ->Arg(128)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
// With TF32 the step is ~8 ms on an H100, so the host's gaps weigh more.
BENCHMARK_CAPTURE(fit_steps, seed_tf32_measured_pipelined, true, true)
    ->Arg(50)->Arg(128)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK_CAPTURE(fit_steps, seed_tf32_measured_one_at_a_time, false, true)
    ->Arg(50)->Arg(128)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
// The host's time to enqueue a step against the GPU's time for it (the CUDA-graph question).
BENCHMARK_CAPTURE(enqueue, seed_fp32_measured, false)
    ->Arg(128)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK_CAPTURE(enqueue, seed_tf32_measured, true)
    ->Arg(50)->Arg(128)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);

#endif

int main(int argc, char** argv) { return knotnet::bench::run_cuda_benchmarks("bench_step", argc, argv); }
