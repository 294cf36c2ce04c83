// Callbacks run at each epoch's end, with Keras's names, defaults and rules:
//   EarlyStopping     stop after `patience` epochs without improvement of the monitored value
//                     by more than min_delta; restore_best_weights puts back the best epoch's
//                     parameters and statistics when it stops (as Keras does).
//   ReduceLROnPlateau multiply the learning rate by `factor` after `patience` epochs without
//                     improvement by more than min_delta, then wait `cooldown` epochs; never
//                     below min_lr.
// The monitored value is val_loss when the epoch has validation, else loss (lower is better).
// Each callback's state is JSON, so a resumed run continues counting where it stopped.
#pragma once

#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "engine/trainer.h"

namespace knotnet {

class Callback {
 public:
  virtual ~Callback() = default;
  virtual const char* name() const = 0;
  virtual void on_epoch_end(const EpochLog& log, Model& model, bool& stop) = 0;
  virtual void on_train_end(Model& model, bool stopped_early) {}
  virtual nlohmann::json state() const = 0;
  virtual void restore(const nlohmann::json& state) = 0;
};

// The value a callback watches: val_loss when present, else the training loss.
double monitored(const EpochLog& log);
// A saved "best" value: a number, or null for one never finite (JSON has no infinity).
double best_from_json(const nlohmann::json& v);

struct EarlyStoppingConfig {
  int patience = 10;
  double min_delta = 0.0;
  bool restore_best_weights = false;
};

class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingConfig c) : c_(c) {}
  const char* name() const override { return "early_stopping"; }
  void on_epoch_end(const EpochLog& log, Model& model, bool& stop) override;
  void on_train_end(Model& model, bool stopped_early) override;
  nlohmann::json state() const override;
  void restore(const nlohmann::json& state) override;
  int64_t best_epoch() const { return best_epoch_; }
  int64_t stopped_epoch() const { return stopped_epoch_; }

 private:
  EarlyStoppingConfig c_;
  double best_ = std::numeric_limits<double>::infinity();
  int64_t best_epoch_ = 0, stopped_epoch_ = 0;
  int wait_ = 0;
  std::vector<char> best_params_, best_stats_;  // host copies of the best epoch's weights
};

struct ReduceLROnPlateauConfig {
  double factor = 0.1;
  int patience = 10;
  double min_delta = 1e-4;
  int cooldown = 0;
  double min_lr = 0.0;
};

class ReduceLROnPlateau : public Callback {
 public:
  explicit ReduceLROnPlateau(ReduceLROnPlateauConfig c);
  const char* name() const override { return "reduce_lr_on_plateau"; }
  void on_epoch_end(const EpochLog& log, Model& model, bool& stop) override;
  nlohmann::json state() const override;
  void restore(const nlohmann::json& state) override;

 private:
  ReduceLROnPlateauConfig c_;
  double best_ = std::numeric_limits<double>::infinity();
  int wait_ = 0, cooldown_left_ = 0;
};

}  // namespace knotnet
