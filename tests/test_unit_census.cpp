// The silent-unit census (engine/unit_census.h): which slot entries belong to which unit (conv
// channels first in their kernels, dense outputs last), that kernel and bias must both be
// quiet, the optimizers it can and cannot read, and a real run in which units killed on purpose
// (a bias no image can overcome) are found, and only they.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "engine/model.h"
#include "engine/unit_census.h"
#include "io/toy_data.h"
#include "tests/support/model_params.h"

namespace knotnet {
namespace {

const char* kSpec =
    "input 16 16 3\nconv 4 3 valid\nrelu\nmaxpool 2\nflatten\ndense 5\nrelu\ndense 3\nsoftmax\n";

std::unique_ptr<Model> make(const std::string& optimizer, double momentum = 0) {
  ModelOptions opt;
  opt.batch = 16;
  opt.seed = 5;
  opt.optimizer.name = optimizer;
  opt.optimizer.momentum = momentum;
  return std::make_unique<Model>(parse_spec(kSpec, "census"), opt);
}

TEST(UnitCensus, ReadsEachUnitsKernelAndBiasEntries) {
  auto m = make("adam");
  float* slot = m->optimizer_state()[0].as<float>();
  const int64_t n = m->trainable_count();
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> mag(1e-6f, 1e-2f);
  for (int64_t i = 0; i < n; ++i) slot[i] = (rng() % 2 ? 1.0f : -1.0f) * mag(rng);  // every unit live
  const float quiet = 3e-21f;
  // conv_1 channel 2: kernel (4, 3, 3, 3), the channel's 27 entries contiguous, and its bias.
  const int64_t ck = test::param_offset(*m, "conv_1", "kernel"), cb = test::param_offset(*m, "conv_1", "bias");
  for (int64_t i = 0; i < 27; ++i) slot[ck + 2 * 27 + i] = quiet;
  slot[cb + 2] = -quiet;
  // dense_1 unit 3: kernel (196, 5), every fifth entry from 3, and its bias.
  const int64_t dk = test::param_offset(*m, "dense_1", "kernel"), db = test::param_offset(*m, "dense_1", "bias");
  for (int64_t i = 0; i < 196; ++i) slot[dk + i * 5 + 3] = quiet;
  slot[db + 3] = quiet;
  // dense_2 unit 0: a quiet kernel column but a live bias: not silent.
  const int64_t ok = test::param_offset(*m, "dense_2", "kernel");
  for (int64_t i = 0; i < 5; ++i) slot[ok + i * 3] = quiet;

  const std::vector<UnitCensus> c = silent_units(*m);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].layer, "conv_1");
  EXPECT_EQ(c[0].units, 4);
  EXPECT_EQ(c[0].silent, 1);
  EXPECT_EQ(c[1].layer, "dense_1");
  EXPECT_EQ(c[1].units, 5);
  EXPECT_EQ(c[1].silent, 1);
  EXPECT_EQ(c[2].layer, "dense_2");
  EXPECT_EQ(c[2].silent, 0);

  // One live entry anywhere in a unit's kernel keeps it off the list.
  slot[dk + 100 * 5 + 3] = 1e-9f;
  EXPECT_EQ(silent_units(*m)[1].silent, 0);
}

TEST(UnitCensus, OnlyOptimizersWithAShrinkingSlotHaveOne) {
  OptimizerConfig c;
  c.name = "adam";
  EXPECT_EQ(silent_window_steps(c), 372);  // log(1e-17) / log(0.9), rounded up
  c.beta1 = 0.999;
  EXPECT_EQ(silent_window_steps(c), 0);  // 39,000 steps: no census
  c = OptimizerConfig{};
  c.name = "rmsprop";
  EXPECT_EQ(silent_window_steps(c), 744);  // its slot's square root shrinks by sqrt(0.9)
  c.name = "adagrad";
  EXPECT_EQ(silent_window_steps(c), 0);
  c.name = "sgd";
  EXPECT_EQ(silent_window_steps(c), 0);
  c.momentum = 0.9;
  EXPECT_EQ(silent_window_steps(c), 372);
  EXPECT_TRUE(silent_units(*make("adagrad")).empty());
  EXPECT_TRUE(silent_units(*make("sgd")).empty());
  EXPECT_EQ(silent_units(*make("sgd", 0.9)).size(), 3u);
}

// RMSprop's slot holds squared gradients: an entry of 1e-25 is silent in Adam's slot, but in
// RMSprop's it is a gradient scale of 3e-13, above the threshold.
TEST(UnitCensus, RmspropIsComparedOnTheGradientsScale) {
  for (const char* name : {"adam", "rmsprop"}) {
    auto m = make(name);
    float* slot = m->optimizer_state()[0].as<float>();
    for (int64_t i = 0; i < m->trainable_count(); ++i) slot[i] = 1e-4f;
    const int64_t db = test::param_offset(*m, "dense_1", "bias"), dk = test::param_offset(*m, "dense_1", "kernel");
    for (int64_t i = 0; i < 196; ++i) slot[dk + i * 5] = 1e-25f;
    slot[db] = 1e-25f;
    EXPECT_EQ(silent_units(*m)[1].silent, std::string(name) == "adam" ? 1 : 0) << name;
  }
}

// After 50 live steps, two of dense_1's five units get a bias of -1e4: no image switches them on
// again, so they get no more gradient. After 550 more Adam steps on the toy problem the census
// names those two, and no other; after only 100 more, none yet (their moments still shrinking).
TEST(UnitCensus, FindsUnitsKilledOnPurposeAfterTraining) {
  auto m = make("adam");
  auto train = [&](int64_t first, int64_t steps) {
    for (int64_t step = first; step < first + steps; ++step) {
      ToyBatch b = make_toy_batch(step * 16, 16, 16, 16, 3);
      m->train_on_batch(Tensor(b.images.data(), Shape{16, 16, 16, 3}, DType::u8),
                        Tensor(b.labels.data(), Shape{16}, DType::i32));
    }
  };
  train(0, 50);
  const int64_t db = test::param_offset(*m, "dense_1", "bias");
  float* params = m->flat_parameters().as<float>();
  params[db + 1] = -1e4f;
  params[db + 4] = -1e4f;
  train(50, 100);
  EXPECT_EQ(silent_units(*m)[1].silent, 0);
  train(150, 450);
  const std::vector<UnitCensus> c = silent_units(*m);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].silent, 0);
  EXPECT_EQ(c[1].silent, 2);
  EXPECT_EQ(c[2].silent, 0);
  // The two are the killed ones: their slot entries are quiet, the others' are not.
  const float* slot = m->optimizer_state()[0].as<float>();
  for (int u = 0; u < 5; ++u) {
    const bool killed = u == 1 || u == 4;
    EXPECT_EQ(std::fabs(slot[db + u]) < kSilentThreshold, killed) << "dense_1 unit " << u;
  }
}

}  // namespace
}  // namespace knotnet
