// The trainer's GPU pipeline (engine/trainer.cpp): with a source that delivers device batches,
// Trainer::fit submits step k+1 before it collects step k. Each case runs the same GPU model
// twice from the same start, once fed device batches (pipelined) and once host batches (one
// step at a time), and requires the same results to the bit: every step's loss, count and
// number as the observer sees them, the epoch logs, the final parameters. Then the pipeline's
// endings: steps_per_epoch, a reader error with a step in flight, a non-finite loss.
// Skips without a GPU; runs on the CUDA emulator too (tests/cuda_emu).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "engine/batch_source.h"
#include "engine/device_copy.h"
#include "engine/model.h"
#include "engine/rng.h"
#include "engine/trainer.h"
#include "tests/support/cuda_testing.h"

namespace knotnet {
namespace {

const char* const kSpec = test::small_deterministic_spec();

ModelOptions gpu_options(double lr) {
  ModelOptions o;
  o.batch = 16;
  o.device = Device::cuda;
  o.seed = 7;
  o.optimizer.name = "sgd";
  o.optimizer.lr = lr;
  return o;
}

struct HostBatch {
  std::vector<uint8_t> images;
  std::vector<int32_t> labels;
  int64_t n;
};

// Seven batches, the last one partial: 103 samples.
std::vector<HostBatch> make_batches() {
  std::vector<HostBatch> out;
  for (uint64_t k = 0; k < 7; ++k) {
    const int64_t n = k == 6 ? 7 : 16;
    HostBatch b{std::vector<uint8_t>(static_cast<size_t>(n * 192)), std::vector<int32_t>(static_cast<size_t>(n)), n};
    for (size_t i = 0; i < b.images.size(); ++i) b.images[i] = static_cast<uint8_t>(random_uniform_double(5, k, i) * 256.0);
    for (size_t i = 0; i < b.labels.size(); ++i)
      b.labels[i] = static_cast<int32_t>(random_uniform_double(6, k, i) * 3.0) % 3;
    out.push_back(std::move(b));
  }
  return out;
}

// The batches in order every epoch; uploaded into `device_model`'s staging when it is given,
// as the reader's CUDA delivery does. next() throws at batch `throw_at` of each epoch, if set.
class VectorSource : public BatchSource {
 public:
  VectorSource(std::vector<HostBatch>& batches, Model* device_model, int throw_at = -1)
      : batches_(batches), model_(device_model), throw_at_(throw_at) {}
  int64_t samples() const override {
    int64_t s = 0;
    for (const auto& b : batches_) s += b.n;
    return s;
  }
  void begin_epoch(int64_t) override { next_ = 0; }
  bool next(Tensor& images, Tensor& labels) override {
    if (next_ == batches_.size()) return false;
    if (static_cast<int>(next_) == throw_at_) KN_THROW("a bad chunk in batch ", next_);
    HostBatch& b = batches_[next_++];
    images = Tensor(b.images.data(), Shape{b.n, 8, 8, 3}, DType::u8);
    labels = Tensor(b.labels.data(), Shape{b.n}, DType::i32);
    if (model_) device_ = model_->device_staging().upload(images, labels);
    return true;
  }
  const DeviceBatch* device_batch() const override { return model_ ? &device_ : nullptr; }

 private:
  std::vector<HostBatch>& batches_;
  Model* model_;
  int throw_at_;
  size_t next_ = 0;
  DeviceBatch device_;
};

struct StepRecord {
  int64_t epoch, step, steps, count;
  double loss;
  bool operator==(const StepRecord&) const = default;
};

class Recorder : public TrainObserver {
 public:
  void on_batch(const BatchProgress& p) override {
    steps.push_back({p.epoch, p.step, p.steps, p.batch.count, p.batch.loss});
  }
  std::vector<StepRecord> steps;
};

struct FitRun {
  std::vector<EpochLog> history;
  std::vector<StepRecord> steps;
  std::vector<float> params;
};

FitRun fit(bool device_batches, const FitOptions& fo, double lr = 0.05) {
  auto batches = make_batches();
  Model model(parse_spec(kSpec, "trainer test"), gpu_options(lr));
  VectorSource source(batches, device_batches ? &model : nullptr);
  Trainer trainer(model, source, nullptr);
  Recorder rec;
  trainer.set_observer(&rec);
  FitRun r;
  r.history = trainer.fit(fo);
  EXPECT_EQ(model.steps_in_flight(), 0);
  r.steps = rec.steps;
  r.params.resize(static_cast<size_t>(model.trainable_count()));
  copy_to_host(model.flat_parameters(), r.params.data());
  return r;
}

void expect_same(const FitRun& pipelined, const FitRun& stepwise) {
  ASSERT_EQ(pipelined.steps.size(), stepwise.steps.size());
  for (size_t i = 0; i < stepwise.steps.size(); ++i) EXPECT_EQ(pipelined.steps[i], stepwise.steps[i]) << "step " << i;
  ASSERT_EQ(pipelined.history.size(), stepwise.history.size());
  for (size_t e = 0; e < stepwise.history.size(); ++e) {
    EXPECT_EQ(pipelined.history[e].loss, stepwise.history[e].loss) << "epoch " << e;
    EXPECT_EQ(pipelined.history[e].accuracy, stepwise.history[e].accuracy) << "epoch " << e;
  }
  EXPECT_EQ(0, std::memcmp(pipelined.params.data(), stepwise.params.data(), stepwise.params.size() * sizeof(float)));
}

TEST(CudaTrainer, PipelinedFitEqualsStepwiseFit) {
  KN_REQUIRE_GPU();
  FitOptions fo;
  fo.epochs = 2;
  const FitRun pipelined = fit(true, fo), stepwise = fit(false, fo);
  expect_same(pipelined, stepwise);
  ASSERT_EQ(stepwise.steps.size(), 14u);
  EXPECT_EQ(stepwise.steps[6], (StepRecord{1, 7, 7, 7, stepwise.steps[6].loss})) << "the partial batch, last";
  EXPECT_EQ(stepwise.steps[7].epoch, 2);
  EXPECT_EQ(stepwise.steps[7].step, 1);
}

TEST(CudaTrainer, PipelinedFitHonoursStepsPerEpoch) {
  KN_REQUIRE_GPU();
  FitOptions fo;
  fo.epochs = 2;
  fo.steps_per_epoch = 3;
  const FitRun pipelined = fit(true, fo), stepwise = fit(false, fo);
  expect_same(pipelined, stepwise);
  ASSERT_EQ(pipelined.steps.size(), 6u);
  EXPECT_EQ(pipelined.steps[2].step, 3);
  EXPECT_EQ(pipelined.steps[3].epoch, 2);
}

TEST(CudaTrainer, AReaderErrorWithAStepInFlightLeavesNoneInFlight) {
  KN_REQUIRE_GPU();
  auto batches = make_batches();
  Model model(parse_spec(kSpec, "trainer test"), gpu_options(0.05));
  VectorSource source(batches, &model, 3);  // after steps 1-3 are submitted, 2 collected
  Trainer trainer(model, source, nullptr);
  Recorder rec;
  trainer.set_observer(&rec);
  FitOptions fo;
  fo.epochs = 1;
  EXPECT_THROW(trainer.fit(fo), Error);
  EXPECT_EQ(model.steps_in_flight(), 0);
  EXPECT_EQ(rec.steps.size(), 2u) << "steps 1 and 2 were collected before the error";
  EXPECT_EQ(model.step_count(), 3) << "step 3 was submitted, so its update happened";
  HostBatch& b = batches[0];
  EXPECT_NO_THROW(model.evaluate_on_batch(Tensor(b.images.data(), Shape{b.n, 8, 8, 3}, DType::u8),
                                          Tensor(b.labels.data(), Shape{b.n}, DType::i32)));
}

// A linear model under SGD at lr 3e38 overflows within a few steps: both ways of stepping stop
// at the same step, with the same message, though the pipelined one has queued the next step by
// then. (Through a ReLU the same rate only kills every unit and the loss stays finite.)
TEST(CudaTrainer, ANonFiniteLossStopsAtTheSameStepEitherWay) {
  KN_REQUIRE_GPU();
  FitOptions fo;
  fo.epochs = 2;
  std::string messages[2];
  for (int device_batches = 0; device_batches < 2; ++device_batches) {
    auto batches = make_batches();
    Model model(parse_spec("input 8 8 3\nflatten\ndense 3\nsoftmax\n", "linear"), gpu_options(3e38));
    VectorSource source(batches, device_batches ? &model : nullptr);
    Trainer trainer(model, source, nullptr);
    try {
      trainer.fit(fo);
      ADD_FAILURE() << "training at lr 3e38 did not stop";
    } catch (const NonFiniteLoss& e) {
      messages[device_batches] = e.what();
    }
    EXPECT_EQ(model.steps_in_flight(), 0);
  }
  EXPECT_EQ(messages[1], messages[0]);
  EXPECT_NE(messages[0].find("(update "), std::string::npos) << messages[0];
}

}  // namespace
}  // namespace knotnet
