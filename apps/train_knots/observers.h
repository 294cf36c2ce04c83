// Observers of a training run besides the progress display:
//   BatchLog     batches.csv in the output directory, one row per training step (epoch, step,
//                the batch's own loss and accuracy): the fine-grained curve that shows what
//                happens inside an epoch, e.g. on a class-sorted file read without shuffling.
//   KillSwitch   for the crash-recovery test only: with KNOTNET_TEST_KILL_AT_STEP=N set, the
//                process kills itself with SIGKILL right after its N-th step of this session.
//   SilentUnitWatch  at each epoch's end, the silent-unit census (engine/unit_census.h): a
//                warning when a quarter or more of a layer's units have had no gradient for the
//                census window (dead ReLUs, which do not come back), and the last census for
//                summary.json.
//   ObserverFan  passes every event to several observers.
#pragma once

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/trainer.h"
#include "engine/unit_census.h"

namespace knotnet::app {

class BatchLog : public TrainObserver {
 public:
  // Keeps the rows of epochs up to `keep_epochs` from an earlier session (a resumed run) and
  // drops the rest, which belong to an epoch that was cut short. Rows are flushed at each
  // epoch's end.
  BatchLog(const std::string& path, int64_t keep_epochs);
  ~BatchLog() override;
  void on_batch(const BatchProgress& p) override;
  void on_epoch_end(const EpochLog&) override { std::fflush(file_); }

 private:
  std::FILE* file_ = nullptr;
};

class KillSwitch : public TrainObserver {
 public:
  KillSwitch();
  void on_batch(const BatchProgress& p) override;

 private:
  int64_t kill_at_ = 0, steps_ = 0;
};

class SilentUnitWatch : public TrainObserver {
 public:
  explicit SilentUnitWatch(const Model& model) : model_(model) {}
  void on_epoch_end(const EpochLog& log) override;
  // The last census_report taken (null before the first).
  nlohmann::json json() const { return last_; }

 private:
  const Model& model_;
  nlohmann::json last_;
  std::map<std::string, int64_t> warned_;  // per layer, the count last warned about
};

// The model's silent-unit census as summary.json and evaluate report it: {"step",
// "window_steps", "layers": [{"layer", "units", "silent"}]}, or null when none can be taken (an
// optimizer without a shrinking slot, or fewer steps than the window).
nlohmann::json census_report(const Model& model);
// Its layers as one line: "conv_1 0/64, conv_2 2/96, ..., dense_1 71/128".
std::string census_text(const nlohmann::json& report);

class ObserverFan : public TrainObserver {
 public:
  explicit ObserverFan(std::vector<TrainObserver*> all) : all_(std::move(all)) {}
  void on_batch(const BatchProgress& p) override {
    for (auto* o : all_) o->on_batch(p);
  }
  void on_epoch_end(const EpochLog& log) override {
    for (auto* o : all_) o->on_epoch_end(log);
  }

 private:
  std::vector<TrainObserver*> all_;
};

}  // namespace knotnet::app
