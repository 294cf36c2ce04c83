// Whole training step on the CPU backend: train_on_batch (forward, loss, backward, update) for
// the named specs, images/s as a counter. On the development machine this is the figure the
// foundation issue asks for: the seed model's step at batch 32.
#include <benchmark/benchmark.h>

#include "engine/model.h"
#include "io/toy_data.h"

namespace {

void step(benchmark::State& state, const char* spec_name, int64_t batch) {
  using namespace knotnet;
  ModelOptions opt;
  opt.batch = batch;
  opt.optimizer.name = "adagrad";
  opt.optimizer.lr = 0.01;
  ModelSpec spec = load_spec(spec_name);
  Model model(spec, opt);
  const int64_t H = spec.input[0], W = spec.input[1];
  ToyBatch b = make_toy_batch(0, batch, H, W, 1);
  Tensor x(b.images.data(), Shape{batch, H, W, 3}, DType::u8), y(b.labels.data(), Shape{batch}, DType::i32);
  model.train_on_batch(x, y);  // warm-up
  for (auto _ : state) benchmark::DoNotOptimize(model.train_on_batch(x, y).loss);
  state.counters["img/s"] = benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["plan_MiB"] = double(model.plan().total_bytes()) / (1 << 20);
}

}  // namespace

BENCHMARK_CAPTURE(step, seed_b32, "seed", 32)->Unit(benchmark::kMillisecond)->MinTime(3.0)->UseRealTime();
BENCHMARK_CAPTURE(step, small_b32, "small", 32)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK_CAPTURE(step, tiny_b32, "tiny", 32)->Unit(benchmark::kMillisecond)->MinTime(1.0)->UseRealTime();

BENCHMARK_MAIN();
