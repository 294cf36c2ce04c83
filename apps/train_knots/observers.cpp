#include "apps/train_knots/observers.h"

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace knotnet::app {

BatchLog::BatchLog(const std::string& path, int64_t keep_epochs) {
  std::string kept = "epoch,step,loss,acc\n";
  if (keep_epochs > 0) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line))
      if (!line.empty() && std::atoll(line.c_str()) <= keep_epochs) kept += line + "\n";
  }
  file_ = std::fopen(path.c_str(), "w");
  KN_CHECK(file_, "cannot write ", path);
  std::fputs(kept.c_str(), file_);
}

BatchLog::~BatchLog() {
  if (file_) std::fclose(file_);
}

void BatchLog::on_batch(const BatchProgress& p) {
  std::fprintf(file_, "%lld,%lld,%.6f,%.6f\n", static_cast<long long>(p.epoch), static_cast<long long>(p.step),
               p.batch.loss, p.batch.accuracy());
}

KillSwitch::KillSwitch() {
  if (const char* v = std::getenv("KNOTNET_TEST_KILL_AT_STEP")) kill_at_ = std::atoll(v);
}

void KillSwitch::on_batch(const BatchProgress&) {
  if (kill_at_ > 0 && ++steps_ == kill_at_) std::raise(SIGKILL);
}

}  // namespace knotnet::app
