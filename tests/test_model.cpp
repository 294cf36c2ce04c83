// The model as a whole on the CPU: its plan over random layer stacks, no allocation inside a
// training step, partial batches, clear errors for bad batches, and a small net that learns.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "engine/model.h"
#include "io/toy_data.h"
#include "tests/support/alloc_count.h"  // replaces operator new in this binary, counting
#include "tests/support/plan_check.h"

namespace knotnet {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A random but valid layer stack over a small image input.
std::string random_spec(std::mt19937& rng) {
  int h = 8 + static_cast<int>(rng() % 9), w = 8 + static_cast<int>(rng() % 9);
  std::string s = "input " + std::to_string(h) + " " + std::to_string(w) + " " + std::to_string(1 + rng() % 3) + "\n";
  int blocks = 1 + static_cast<int>(rng() % 2);
  for (int b = 0; b < blocks; ++b) {
    bool same = rng() % 2;
    s += "conv " + std::to_string(2 + rng() % 5) + " 3 " + (same ? "same" : "valid") + "\n";
    if (!same) h -= 2, w -= 2;
    if (rng() % 2) s += "batchnorm\n";
    s += "relu\n";
    if (h >= 4 && w >= 4 && rng() % 2) {
      s += "maxpool 2\n";
      h /= 2, w /= 2;
    }
  }
  s += "flatten\n";
  if (rng() % 2) s += "dense " + std::to_string(3 + rng() % 8) + "\nrelu\n";
  if (rng() % 2) s += "dropout 0.25\n";
  s += "dense " + std::to_string(2 + rng() % 3) + "\nsoftmax\n";
  return s;
}

TEST(ModelPlan, RandomStacksNeverShareLiveMemory) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    std::string text = random_spec(rng);
    ModelOptions opt;
    opt.batch = 1 + static_cast<int64_t>(rng() % 9);
    opt.allocate = false;
    opt.optimizer.name = trial % 2 ? "adam" : "sgd";
    Model m(parse_spec(text, "random"), opt);
    size_t peak = test::check_plan(m.plan());
    EXPECT_GE(m.plan().total_bytes(), peak) << text;
    EXPECT_LE(m.plan().total_bytes(), m.plan().total_without_reuse()) << text;
  }
}

// The plan's lifetimes against what the layers really read: the same random stacks trained
// with lifetime reuse and with every buffer apart must agree to the bit. A lifetime declared
// too short lets a later buffer overwrite data still needed, and the two runs then differ.
TEST(ModelPlan, ReuseChangesNoResultOnRandomStacks) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 25; ++trial) {
    std::string text = random_spec(rng);
    ModelSpec spec = parse_spec(text, "random");
    ModelOptions opt;
    opt.batch = 2 + static_cast<int64_t>(rng() % 5);
    opt.optimizer.name = trial % 2 ? "adam" : "sgd";
    opt.seed = trial;
    Model reusing(spec, opt);
    opt.reuse_memory = false;
    Model apart(spec, opt);
    ASSERT_LT(reusing.plan().total_bytes(), apart.plan().total_bytes()) << text;
    const int64_t n = opt.batch - trial % 2;  // full and partial batches
    std::vector<uint8_t> images(static_cast<size_t>(n * spec.input.numel()));
    for (auto& v : images) v = static_cast<uint8_t>(rng());
    std::vector<int32_t> labels(static_cast<size_t>(n));
    for (auto& v : labels) v = static_cast<int32_t>(rng() % reusing.classes());
    Tensor x(images.data(), spec.input.with_batch(n), DType::u8), y(labels.data(), Shape{n}, DType::i32);
    for (int step = 0; step < 3; ++step) {
      LossResult a = reusing.train_on_batch(x, y), b = apart.train_on_batch(x, y);
      ASSERT_EQ(a.loss, b.loss) << text << "step " << step;
      const Tensor pa = reusing.flat_parameters(), pb = apart.flat_parameters();
      ASSERT_EQ(std::memcmp(pa.data, pb.data, pa.bytes()), 0) << text << "step " << step;
      const Tensor ga = reusing.flat_gradients(), gb = apart.flat_gradients();
      ASSERT_EQ(std::memcmp(ga.data, gb.data, ga.bytes()), 0) << text << "step " << step;
    }
  }
}

TEST(ModelPlan, SeedPlanReusesMemoryAndPrints) {
  ModelOptions opt;
  opt.batch = 32;
  opt.allocate = false;
  Model m(load_spec("seed"), opt);
  EXPECT_LT(m.plan().total_bytes(), m.plan().total_without_reuse() * 3 / 4);
  std::string table = m.plan().table();
  EXPECT_THAT(table, HasSubstr("conv_1.out"));
  EXPECT_THAT(table, HasSubstr("adam_state1"));
  EXPECT_THAT(table, HasSubstr("total with lifetime reuse"));
  EXPECT_THAT(m.summary(), HasSubstr("Trainable params: 3,379,811"));
}

// Layers before the first one with trainable parameters (an avgpool reading the images) run no
// backward: the gradient of their outputs is not planned, the first conv gets no input gradient,
// and every parameter's gradient still matches central differences of the loss, in double.
TEST(Model, LayersBeforeTheFirstTrainableOneRunNoBackward) {
  ModelOptions opt;
  opt.batch = 3;
  opt.dtype = DType::f64;
  opt.optimizer.name = "sgd";
  Model m(parse_spec("input 10 10 2\navgpool 2\nconv 3 3 same\nrelu\navgpool 2\nflatten\ndense 3\nsoftmax\n",
                     "avgpool first"),
          opt);
  const std::string table = m.plan().table();
  EXPECT_THAT(table, Not(HasSubstr("avgpool_1.grad")));
  EXPECT_THAT(table, HasSubstr("conv_1.grad"));
  EXPECT_THAT(table, HasSubstr("relu_1.grad"));  // avgpool_2's input gradient: after conv_1, it runs

  ToyBatch b = make_toy_batch(40, 3, 10, 10, 3);
  // Two channels of the toy images: the first two of each pixel's three.
  std::vector<uint8_t> images;
  for (size_t i = 0; i < b.images.size(); ++i)
    if (i % 3 != 2) images.push_back(b.images[i]);
  const Tensor x(images.data(), Shape{3, 10, 10, 2}, DType::u8), y(b.labels.data(), Shape{3}, DType::i32);
  m.forward_backward(x, y);
  std::vector<double> grad(static_cast<size_t>(m.flat_parameters().numel()));
  std::memcpy(grad.data(), m.flat_gradients().data, grad.size() * sizeof(double));
  ASSERT_EQ(grad.size(), 96u);  // conv_1's and dense_1's, all checked
  double* w = static_cast<double*>(m.flat_parameters().data);
  const double h = 1e-6;
  for (size_t k = 0; k < grad.size(); ++k) {
    const double keep = w[k];
    w[k] = keep + h;
    const double up = m.forward_backward(x, y).loss;
    w[k] = keep - h;
    const double down = m.forward_backward(x, y).loss;
    w[k] = keep;
    const double numeric = (up - down) / (2 * h);
    EXPECT_NEAR(grad[k], numeric, 1e-6 * (1 + std::abs(numeric))) << "parameter " << k;
  }
}

struct ToyModel {
  ToyModel(int64_t batch, const std::string& optimizer = "adam") {
    ModelOptions opt;
    opt.batch = batch;
    opt.optimizer.name = optimizer;
    model = std::make_unique<Model>(load_spec("tiny"), opt);
  }
  LossResult train(int64_t first, int64_t n) {
    ToyBatch b = make_toy_batch(first, n, 16, 16, 3);
    return model->train_on_batch(Tensor(b.images.data(), Shape{n, 16, 16, 3}, DType::u8),
                                 Tensor(b.labels.data(), Shape{n}, DType::i32));
  }
  std::unique_ptr<Model> model;
};

TEST(Model, TrainingStepAllocatesNothing) {
  ToyModel t(16);
  ToyBatch b = make_toy_batch(0, 16, 16, 16, 3);
  Tensor x(b.images.data(), Shape{16, 16, 16, 3}, DType::u8), y(b.labels.data(), Shape{16}, DType::i32);
  t.model->train_on_batch(x, y);  // warm-up (OpenBLAS sets up its threads on first use)
  long arenas = Arena::allocation_count();
  const int64_t before = test::heap_allocations();
  for (int i = 0; i < 3; ++i) {
    t.model->train_on_batch(x, y);
    t.model->evaluate_on_batch(x, y);
  }
  EXPECT_EQ(test::heap_allocations() - before, 0) << "operator new was called inside training steps";
  EXPECT_EQ(Arena::allocation_count(), arenas);
}

TEST(Model, SmallNetLearnsSeparableToyProblem) {
  ToyModel t(32);
  for (int step = 0; step < 300; ++step) t.train(step * 32, 32);
  ToyBatch test = make_toy_batch(1'000'000, 32, 16, 16, 3);
  int64_t correct = 0;
  for (int rep = 0; rep < 10; ++rep) {
    ToyBatch b = make_toy_batch(1'000'000 + rep * 32, 32, 16, 16, 3);
    correct += t.model
                   ->evaluate_on_batch(Tensor(b.images.data(), Shape{32, 16, 16, 3}, DType::u8),
                                       Tensor(b.labels.data(), Shape{32}, DType::i32))
                   .correct;
  }
  EXPECT_GE(correct, 300) << "held-out accuracy " << correct / 320.0 << " after 300 steps";
}

TEST(Model, PartialBatchAndPredict) {
  ToyModel t(16);
  LossResult r = t.train(0, 5);
  EXPECT_EQ(r.count, 5);
  EXPECT_TRUE(std::isfinite(r.loss));
  ToyBatch b = make_toy_batch(100, 7, 16, 16, 3);
  std::vector<float> probs(7 * 3, -1.0f);
  t.model->predict_on_batch(Tensor(b.images.data(), Shape{7, 16, 16, 3}, DType::u8),
                            Tensor(probs.data(), Shape{7, 3}, DType::f32));
  for (int i = 0; i < 7; ++i) EXPECT_NEAR(probs[i * 3] + probs[i * 3 + 1] + probs[i * 3 + 2], 1.0f, 1e-5f);
}

TEST(Model, BadBatchesAreRejectedClearly) {
  ToyModel t(8);
  ToyBatch b = make_toy_batch(0, 9, 16, 16, 3);
  auto message = [&](const Tensor& x, const Tensor& y) -> std::string {
    try {
      t.model->train_on_batch(x, y);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_THAT(message(Tensor(b.images.data(), Shape{9, 16, 16, 3}, DType::u8), Tensor(b.labels.data(), Shape{9}, DType::i32)),
              HasSubstr("does not fit the planned batch size 8"));
  EXPECT_THAT(message(Tensor(b.images.data(), Shape{4, 16, 8, 6}, DType::u8), Tensor(b.labels.data(), Shape{4}, DType::i32)),
              HasSubstr("images should be (4, 16, 16, 3)"));
  std::vector<int32_t> bad = {0, 1, 3, 2};
  EXPECT_THAT(message(Tensor(b.images.data(), Shape{4, 16, 16, 3}, DType::u8), Tensor(bad.data(), Shape{4}, DType::i32)),
              HasSubstr("outside the model's classes [0, 3)"));
  ModelOptions opt;
  opt.batch = 0;
  EXPECT_THROW(Model(load_spec("tiny"), opt), Error);
}

TEST(Model, SameSeedSameWeightsAndSteps) {
  ToyModel a(8), b(8);
  for (int i = 0; i < 3; ++i) {
    a.train(i * 8, 8);
    b.train(i * 8, 8);
  }
  Tensor pa = a.model->flat_parameters(), pb = b.model->flat_parameters();
  ASSERT_EQ(pa.bytes(), pb.bytes());
  EXPECT_EQ(std::memcmp(pa.data, pb.data, pa.bytes()), 0);
}

}  // namespace
}  // namespace knotnet
