// Keras-style progress for training: on a terminal, one line per epoch redrawn in place
// (step/total, bar, loss, accuracy, images/s, ETA), finished with the epoch's validation
// figures; elsewhere (a log file, CI) only the finished line of each epoch.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "engine/trainer.h"

namespace knotnet::app {

class Progress : public TrainObserver {
 public:
  Progress(int64_t epochs, bool terminal, std::FILE* out = stderr) : epochs_(epochs), terminal_(terminal), out_(out) {}
  void on_batch(const BatchProgress& p) override;
  void on_epoch_end(const EpochLog& log) override;

 private:
  int64_t epochs_;
  bool terminal_;
  std::FILE* out_;
  std::chrono::steady_clock::time_point last_draw_{}, epoch_start_{};
  int64_t epoch_ = 0, step_ = 0, steps_ = 0;
};

// "1:02:03" or "2:03".
std::string format_duration(double seconds);

}  // namespace knotnet::app
