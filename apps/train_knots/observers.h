// Observers of a training run besides the progress display:
//   BatchLog     batches.csv in the output directory, one row per training step (epoch, step,
//                the batch's own loss and accuracy): the fine-grained curve that shows what
//                happens inside an epoch, e.g. on a class-sorted file read without shuffling.
//   KillSwitch   for the crash-recovery test only: with KNOTNET_TEST_KILL_AT_STEP=N set, the
//                process kills itself with SIGKILL right after its N-th step of this session.
//   ObserverFan  passes every event to several observers.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "engine/trainer.h"

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
