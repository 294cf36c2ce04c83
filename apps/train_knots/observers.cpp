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

KillSwitch::KillSwitch() {
  if (const char* v = std::getenv("KNOTNET_TEST_KILL_AT_STEP")) kill_at_ = std::atoll(v);
}

void KillSwitch::on_batch(const BatchProgress&) {
  if (kill_at_ > 0 && ++steps_ == kill_at_) std::raise(SIGKILL);
}

}  // namespace knotnet::app
