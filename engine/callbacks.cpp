#include "engine/callbacks.h"

#include <algorithm>
#include <cstring>

#include "engine/device_copy.h"

namespace knotnet {

double monitored(const EpochLog& log) { return log.has_validation ? log.val_loss : log.loss; }

double best_from_json(const nlohmann::json& v) {
  // JSON has no infinity: a best that was never finite is stored as null.
  return v.is_null() ? std::numeric_limits<double>::infinity() : v.get<double>();
}

namespace {
// Host copies of the model's buffers, which may live on the GPU (engine/device_copy.h).
std::vector<char> host_copy(const Tensor& t) {
  if (t.empty()) return {};
  std::vector<char> out(t.bytes());
  copy_to_host(t, out.data());
  return out;
}
void copy_back(const std::vector<char>& from, const Tensor& to) {
  if (to.empty()) return;
  KN_CHECK(from.size() == to.bytes(), "saved weights do not match the model");
  copy_from_host(from.data(), to);
}
}  // namespace

void EarlyStopping::on_epoch_end(const EpochLog& log, Model& model, bool& stop) {
  double v = monitored(log);
  if (v < best_ - c_.min_delta) {
    best_ = v;
    best_epoch_ = log.epoch;
    wait_ = 0;
    if (c_.restore_best_weights) {
      best_params_ = host_copy(model.flat_parameters());
      best_stats_ = host_copy(model.flat_statistics());
    }
    return;
  }
  if (++wait_ >= c_.patience) {
    stopped_epoch_ = log.epoch;
    stop = true;
  }
}

void EarlyStopping::on_train_end(Model& model, bool stopped_early) {
  model.require_no_step_in_flight("restoring the best weights");
  if (stopped_early && c_.restore_best_weights && !best_params_.empty()) {
    copy_back(best_params_, model.flat_parameters());
    copy_back(best_stats_, model.flat_statistics());
  }
}

nlohmann::json EarlyStopping::state() const {
  // best weights are not part of the state: a resumed run keeps the epoch number of the best,
  // and restores from best.h5 if asked (see train_knots).
  return {{"best", best_}, {"best_epoch", best_epoch_}, {"wait", wait_}};
}

void EarlyStopping::restore(const nlohmann::json& s) {
  best_ = best_from_json(s.at("best"));
  best_epoch_ = s.at("best_epoch").get<int64_t>();
  wait_ = s.at("wait").get<int>();
}

ReduceLROnPlateau::ReduceLROnPlateau(ReduceLROnPlateauConfig c) : c_(c) {
  KN_CHECK(c.factor > 0 && c.factor < 1, "ReduceLROnPlateau factor must be in (0, 1), got ", c.factor);
  KN_CHECK(c.patience >= 0 && c.cooldown >= 0 && c.min_lr >= 0, "ReduceLROnPlateau patience, cooldown and min_lr must be >= 0");
}

void ReduceLROnPlateau::on_epoch_end(const EpochLog& log, Model& model, bool&) {
  double v = monitored(log);
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    wait_ = 0;
  }
  if (v < best_ - c_.min_delta) {
    best_ = v;
    wait_ = 0;
  } else if (cooldown_left_ == 0 && ++wait_ >= c_.patience) {
    double lr = model.optimizer().lr();
    if (lr > c_.min_lr) {
      model.optimizer().set_lr(std::max(lr * c_.factor, c_.min_lr));
      cooldown_left_ = c_.cooldown;
      wait_ = 0;
    }
  }
}

nlohmann::json ReduceLROnPlateau::state() const {
  return {{"best", best_}, {"wait", wait_}, {"cooldown_left", cooldown_left_}};
}

void ReduceLROnPlateau::restore(const nlohmann::json& s) {
  best_ = best_from_json(s.at("best"));
  wait_ = s.at("wait").get<int>();
  cooldown_left_ = s.at("cooldown_left").get<int>();
}

}  // namespace knotnet
