#include "apps/train_knots/run_state.h"

#include <filesystem>

#include "apps/train_knots/run_outputs.h"
#include "io/checkpoint.h"

namespace knotnet::app {

std::string RunState::to_json() const {
  nlohmann::json j;
  j["history"] = nlohmann::json::array();
  for (const EpochLog& e : history) j["history"].push_back(epoch_json(e));
  j["best"] = best;
  j["best_epoch"] = best_epoch;
  for (const Callback* c : callbacks) j["callbacks"][c->name()] = c->state();
  return j.dump();
}

void RunState::restore(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
    history.clear();
    for (const auto& e : j.at("history")) history.push_back(epoch_from_json(e));
    best = best_from_json(j.at("best"));
    best_epoch = j.at("best_epoch").get<int64_t>();
    for (Callback* c : callbacks)
      if (j.contains("callbacks") && j["callbacks"].contains(c->name())) c->restore(j["callbacks"][c->name()]);
  } catch (const nlohmann::json::exception& e) {
    KN_THROW("the checkpoint's trainer state is unreadable: ", e.what());
  }
}

void ModelCheckpoint::on_epoch_end(const EpochLog& log, Model& model, bool&) {
  run_.history.push_back(log);
  double v = monitored(log);
  bool improved = v < run_.best;
  if (improved) {
    run_.best = v;
    run_.best_epoch = log.epoch;
  }
  std::string state = run_.to_json();
  if (improved) save_checkpoint((std::filesystem::path(dir_) / "best.h5").string(), model, spec_text_, log.epoch, state);
  save_checkpoint((std::filesystem::path(dir_) / "last.h5").string(), model, spec_text_, log.epoch, state);
}

}  // namespace knotnet::app
