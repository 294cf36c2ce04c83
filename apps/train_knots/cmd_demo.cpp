// train_knots demo: trains a small model on generated stripe images (io/toy_data.h) and prints
// the loss falling, epoch by epoch, then accuracy on held-out samples. It needs no data file.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "engine/cuda_context.h"
#include "apps/train_knots/command.h"
#include "engine/model.h"
#include "io/toy_data.h"

namespace knotnet::app {
namespace {

struct DemoFlags {
  std::string model = "tiny";
  int64_t batch = 32;
  int epochs = 5;
  int64_t samples = 3072;
  std::string optimizer = "adam";
  double lr = -1;
  uint64_t seed = 42;
  std::string device = "auto";
  bool show_plan = false;
};

std::function<int()> setup(CLI::App& sub) {
  auto f = std::make_shared<DemoFlags>();
  sub.add_option("--model", f->model, "named spec or spec file")->capture_default_str();
  sub.add_option("--batch", f->batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  sub.add_option("--epochs", f->epochs, "epochs")->capture_default_str()->check(CLI::PositiveNumber);
  sub.add_option("--samples", f->samples, "training samples per epoch")->capture_default_str()->check(CLI::PositiveNumber);
  sub.add_option("--optimizer", f->optimizer, "sgd, adagrad, rmsprop or adam")->capture_default_str();
  sub.add_option("--lr", f->lr, "learning rate (default: the optimizer's Keras default)");
  sub.add_option("--seed", f->seed, "seed for data, weights and dropout")->capture_default_str();
  sub.add_option("--device", f->device, "auto, cpu or cuda")->capture_default_str();
  sub.add_flag("--plan", f->show_plan, "print the memory plan before training");
  return [f]() {
    ModelOptions opt;
    opt.batch = f->batch;
    opt.device = resolve_device(f->device);
    opt.seed = f->seed;
    opt.optimizer.name = f->optimizer;
    opt.optimizer.lr = f->lr;
    ModelSpec spec = load_spec(f->model);
    KN_CHECK(spec.input.rank() == 3 && spec.input[2] == 3, "the demo needs a model with H W 3 input, got ",
             spec.input.str());
    Model model(spec, opt);
    std::cout << model.summary();
    if (f->show_plan) std::cout << "\n" << model.plan().table();
    const int64_t H = spec.input[0], W = spec.input[1];
    ToyBatch test = make_toy_batch(1'000'000, 600, H, W, f->seed);
    for (int epoch = 1; epoch <= f->epochs; ++epoch) {
      auto t0 = std::chrono::steady_clock::now();
      double loss_sum = 0;
      int64_t correct = 0, seen = 0;
      for (int64_t first = 0; first < f->samples; first += f->batch) {
        int64_t n = std::min(f->batch, f->samples - first);
        // Each epoch sees fresh samples: index space is offset by the epoch.
        ToyBatch b = make_toy_batch(epoch * f->samples + first, n, H, W, f->seed);
        Tensor x(b.images.data(), Shape{n, H, W, 3}, DType::u8);
        Tensor y(b.labels.data(), Shape{n}, DType::i32);
        LossResult r = model.train_on_batch(x, y);
        loss_sum += r.loss * static_cast<double>(n);
        correct += r.correct;
        seen += n;
      }
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("epoch %d/%d  loss %.4f  acc %.3f  %.0f img/s\n", epoch, f->epochs, loss_sum / double(seen),
                  double(correct) / double(seen), double(seen) / secs);
      std::fflush(stdout);
    }
    int64_t correct = 0;
    for (int64_t first = 0; first < test.n; first += f->batch) {
      int64_t n = std::min(f->batch, test.n - first);
      Tensor x(test.images.data() + first * H * W * 3, Shape{n, H, W, 3}, DType::u8);
      Tensor y(test.labels.data() + first, Shape{n}, DType::i32);
      correct += model.evaluate_on_batch(x, y).correct;
    }
    std::printf("held-out accuracy %.3f on %lld samples\n", double(correct) / double(test.n),
                static_cast<long long>(test.n));
    return 0;
  };
}

}  // namespace

KN_REGISTER_COMMAND(demo, "demo", "train a small model on generated stripe images (no data file needed)", setup);

}  // namespace knotnet::app
