#include "apps/train_knots/observers.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "apps/train_knots/run_outputs.h"

namespace knotnet::app {

BatchLog::BatchLog(const std::string& path, int64_t keep_epochs) {
  // The rows of finished epochs are rewritten under a temporary name and renamed into place,
  // so a crash during the rewrite cannot lose them; rows that do not parse (a line torn by an
  // earlier crash) are dropped.
  std::string kept = "epoch,step,loss,acc\n";
  if (keep_epochs > 0) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      long long epoch = 0, step = 0;
      double loss = 0, acc = 0;
      char tail = 0;
      if (std::sscanf(line.c_str(), "%lld,%lld,%lf,%lf%c", &epoch, &step, &loss, &acc, &tail) == 4 && epoch >= 1 &&
          epoch <= keep_epochs)
        kept += line + "\n";
    }
  }
  write_file_atomically(path, kept);
  file_ = std::fopen(path.c_str(), "a");
  KN_CHECK(file_, "cannot write ", path);
}

BatchLog::~BatchLog() {
  if (file_) std::fclose(file_);
}

void BatchLog::on_batch(const BatchProgress& p) {
  std::fprintf(file_, "%lld,%lld,%.6f,%.6f\n", static_cast<long long>(p.epoch), static_cast<long long>(p.step),
               p.batch.loss, p.batch.accuracy());
  // Each row reaches the file as it is made: people (and memcap) watch the file to see that a
  // run is training; a row costs one small write, nothing beside a step.
  std::fflush(file_);
}

nlohmann::json census_report(const Model& model) {
  const int64_t window = silent_window_steps(model.options().optimizer);
  if (window == 0 || model.step_count() < window) return nullptr;  // no unit can read as silent yet
  nlohmann::json layers = nlohmann::json::array();
  for (const UnitCensus& c : silent_units(model))
    layers.push_back({{"layer", c.layer}, {"units", c.units}, {"silent", c.silent}});
  return {{"step", model.step_count()}, {"window_steps", window}, {"layers", layers}};
}

std::string census_text(const nlohmann::json& report) {
  std::string s;
  for (const nlohmann::json& c : report["layers"])
    s += (s.empty() ? "" : ", ") + c["layer"].get<std::string>() + " " + std::to_string(c["silent"].get<int64_t>()) +
         "/" + std::to_string(c["units"].get<int64_t>());
  return s;
}

void SilentUnitWatch::on_epoch_end(const EpochLog&) {
  last_ = census_report(model_);
  if (last_.is_null()) return;
  for (const nlohmann::json& c : last_["layers"]) {
    const std::string layer = c["layer"];
    const int64_t silent = c["silent"], units = c["units"];
    if (silent == 0 || silent * 4 < units || warned_[layer] == silent) continue;
    warned_[layer] = silent;
    std::fprintf(stderr,
                 "warning: %s: %lld of %lld units have had no gradient on any image for the last ~%lld steps or more "
                 "(dead ReLUs, which do not come back). Large first steps (Adam's at its default lr, say) can push a "
                 "unit with many non-negative inputs below zero for every image; a batchnorm before its relu keeps "
                 "units alive (docs/quality_bar.md, \"Dead units\").\n",
                 layer.c_str(), static_cast<long long>(silent), static_cast<long long>(units),
                 static_cast<long long>(last_["window_steps"].get<int64_t>()));
  }
}

KillSwitch::KillSwitch() {
  if (const char* v = std::getenv("KNOTNET_TEST_KILL_AT_STEP")) kill_at_ = std::atoll(v);
}

void KillSwitch::on_batch(const BatchProgress&) {
  if (kill_at_ > 0 && ++steps_ == kill_at_) std::raise(SIGKILL);
}

}  // namespace knotnet::app
