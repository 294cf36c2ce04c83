// The state of a training run that must survive a crash: the history so far and each
// callback's counters, kept as JSON inside every checkpoint (trainer_state), and the
// ModelCheckpoint callback that writes last.h5 after every epoch and best.h5 whenever the
// monitored value (val_loss, else loss) improves on the best so far (strictly, without a
// min_delta, as Keras's ModelCheckpoint(save_best_only=True) decides). Both files are written to a temporary name
// and renamed, so a crash leaves the previous ones intact.
#pragma once

#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/callbacks.h"

namespace knotnet::app {

class RunState {
 public:
  std::vector<EpochLog> history;
  std::vector<Callback*> callbacks;  // whose state is saved and restored
  double best = std::numeric_limits<double>::infinity();
  int64_t best_epoch = 0;

  std::string to_json() const;
  // Restores history, best and the callbacks' state (matched by name).
  void restore(const std::string& json);
};

class ModelCheckpoint : public Callback {
 public:
  ModelCheckpoint(std::string dir, std::string spec_text, RunState& run)
      : dir_(std::move(dir)), spec_text_(std::move(spec_text)), run_(run) {}
  const char* name() const override { return "model_checkpoint"; }
  // Must run after the callbacks whose state it saves, and after the history was appended.
  void on_epoch_end(const EpochLog& log, Model& model, bool& stop) override;
  nlohmann::json state() const override { return nlohmann::json::object(); }
  void restore(const nlohmann::json&) override {}

 private:
  std::string dir_, spec_text_;
  RunState& run_;
};

}  // namespace knotnet::app
