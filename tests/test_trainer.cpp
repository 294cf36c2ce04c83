// The training loop and its callbacks: epochs and validation, EarlyStopping and
// ReduceLROnPlateau by Keras's rules, a non-finite loss stopping training with a clear message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "engine/callbacks.h"
#include "engine/trainer.h"
#include "tests/support/toy_source.h"

namespace knotnet {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Model> tiny(int64_t batch, const std::string& optimizer = "adam", double lr = -1) {
  ModelOptions opt;
  opt.batch = batch;
  opt.optimizer.name = optimizer;
  opt.optimizer.lr = lr;
  return std::make_unique<Model>(load_spec("tiny"), opt);
}

EpochLog log_with(int64_t epoch, double val_loss) {
  EpochLog l;
  l.epoch = epoch;
  l.has_validation = true;
  l.val_loss = val_loss;
  l.loss = 100;  // must be ignored when validation is present
  return l;
}

TEST(Trainer, FitsAndValidates) {
  auto m = tiny(32);
  test::ToySource train(1280, 32, 16, 5), val(320, 32, 16, 6, true);
  Trainer t(*m, train, &val);
  auto history = t.fit({.epochs = 3});
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[2].epoch, 3);
  EXPECT_TRUE(history[2].has_validation);
  EXPECT_LT(history[2].loss, history[0].loss);
  EXPECT_GT(history[2].val_accuracy, 0.85);
  Evaluation ev = evaluate(*m, val);
  EXPECT_EQ(ev.count, 320);
  int64_t total = 0, diagonal = 0;
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      total += ev.confusion[static_cast<size_t>(i * 3 + j)];
      if (i == j) diagonal += ev.confusion[static_cast<size_t>(i * 3 + j)];
    }
  EXPECT_EQ(total, 320);
  EXPECT_EQ(diagonal, ev.correct);
  EXPECT_NEAR(ev.accuracy(), history[2].val_accuracy, 1e-12);
}

TEST(Trainer, InitialEpochResumesCounting) {
  auto m = tiny(32);
  test::ToySource train(64, 32, 16, 5);
  Trainer t(*m, train, nullptr);
  auto history = t.fit({.epochs = 4, .initial_epoch = 2});
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].epoch, 3);
  EXPECT_FALSE(history[0].has_validation);
}

TEST(Trainer, StepsPerEpochCapsUpdatesAndImages) {
  auto m = tiny(32);
  test::ToySource train(1280, 32, 16, 5);  // 40 batches an epoch
  Trainer t(*m, train, nullptr);
  auto history = t.fit({.epochs = 2, .steps_per_epoch = 3});
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(m->step_count(), 6);
  // A cap above the epoch's batches changes nothing.
  auto m2 = tiny(32);
  test::ToySource small(96, 32, 16, 5);
  Trainer t2(*m2, small, nullptr);
  t2.fit({.epochs = 1, .steps_per_epoch = 50});
  EXPECT_EQ(m2->step_count(), 3);
}

TEST(Trainer, NonFiniteLossStopsWithMessage) {
  auto m = tiny(32);
  for (const auto& p : m->parameters())
    if (p.layer == "dense_2" && p.name == "bias") p.value.as<float>()[1] = std::numeric_limits<float>::infinity();
  test::ToySource train(640, 32, 16, 5);
  Trainer t(*m, train, nullptr);
  try {
    t.fit({.epochs = 2});
    FAIL() << "a diverging run must stop";
  } catch (const NonFiniteLoss& e) {
    EXPECT_THAT(e.what(), HasSubstr("the loss became"));
    EXPECT_THAT(e.what(), HasSubstr("epoch 1, step"));
  }
}

TEST(EarlyStopping, StopsAfterPatienceWithoutImprovement) {
  auto m = tiny(4);
  EarlyStopping es({.patience = 2, .min_delta = 0.01});
  bool stop = false;
  double values[] = {1.0, 0.9, 0.895, 0.95, 0.5};
  int64_t stopped_at = 0;
  for (int i = 0; i < 5 && !stop; ++i) {
    es.on_epoch_end(log_with(i + 1, values[i]), *m, stop);
    if (stop) stopped_at = i + 1;
  }
  // 0.895 is not better than 0.9 by more than 0.01: epochs 3 and 4 count, stop at 4.
  EXPECT_EQ(stopped_at, 4);
  EXPECT_EQ(es.best_epoch(), 2);
}

TEST(EarlyStopping, RestoresBestWeightsWhenItStops) {
  auto m = tiny(4);
  EarlyStopping es({.patience = 1, .restore_best_weights = true});
  bool stop = false;
  float* p = m->flat_parameters().as<float>();
  p[0] = 1.5f;
  es.on_epoch_end(log_with(1, 0.5), *m, stop);
  p[0] = -7.0f;
  es.on_epoch_end(log_with(2, 0.6), *m, stop);
  ASSERT_TRUE(stop);
  es.on_train_end(*m, true);
  EXPECT_EQ(p[0], 1.5f);
}

TEST(ReduceLROnPlateau, ReducesAfterPatienceThenCoolsDown) {
  auto m = tiny(4, "adam", 0.01);
  ReduceLROnPlateau r({.factor = 0.5, .patience = 2, .min_delta = 0.0, .cooldown = 1, .min_lr = 0.002});
  bool stop = false;
  std::vector<double> lrs;
  for (int e = 1; e <= 8; ++e) {
    r.on_epoch_end(log_with(e, e == 1 ? 1.0 : 2.0), *m, stop);
    lrs.push_back(m->optimizer().lr());
  }
  // No improvement after epoch 1: epochs 2 and 3 count, reduce at 3. As in Keras, the cooldown
  // counter is decremented before the check, so with cooldown 1 epoch 4 already counts again:
  // reduce at 5, and at 7 down to the floor 0.002 (not 0.00125).
  std::vector<double> expect = {0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025, 0.002, 0.002};
  for (size_t i = 0; i < expect.size(); ++i) EXPECT_NEAR(lrs[i], expect[i], 1e-12) << "epoch " << i + 1;
  EXPECT_FALSE(stop);
  auto s = r.state();
  ReduceLROnPlateau again({.factor = 0.5, .patience = 2});
  again.restore(s);
  EXPECT_EQ(again.state(), s);
  EXPECT_THROW(ReduceLROnPlateau({.factor = 1.5}), Error);
}

}  // namespace
}  // namespace knotnet
