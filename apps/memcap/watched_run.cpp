#include "apps/memcap/watched_run.h"

#include <thread>

#include "engine/gpu_memory_probe.h"

namespace knotnet::memcap {

namespace fs = std::filesystem;

namespace {
fs::path ensure_dir(const fs::path& d) {
  fs::create_directories(d);
  return d;
}
}  // namespace

WatchedRun::WatchedRun(std::string label, std::vector<std::string> argv, const fs::path& log_dir, double timeout_s)
    : label_(std::move(label)),
      argv_(std::move(argv)),
      log_dir_(ensure_dir(log_dir)),
      timeout_s_(timeout_s),
      process_(argv_, (log_dir_ / "stdout.log").string(), (log_dir_ / "stderr.log").string()) {
  poll();
}

void WatchedRun::poll() {
  if (!running_) return;
  if (auto used = GpuMemoryProbe::get().process_used(process_.pid())) {
    ++samples_;
    if (!device_peak_ || *used > *device_peak_) device_peak_ = used;
  }
  if (!process_.running()) {
    running_ = false;
    return;
  }
  if (process_.seconds() > timeout_s_) {
    timed_out_ = true;
    process_.stop();
    running_ = false;
  }
}

bool watch(const std::vector<WatchedRun*>& runs, const std::function<bool()>& until, double period_s) {
  for (;;) {
    bool any = false;
    for (WatchedRun* r : runs) {
      r->poll();
      any = any || r->running();
    }
    if (until && until()) return true;
    if (!any) return false;
    std::this_thread::sleep_for(std::chrono::duration<double>(period_s));
  }
}

void run_to_end(WatchedRun& run) { watch({&run}); }

std::string shell_quote(const std::string& word) {
  if (!word.empty() &&
      word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=.,/:@%") ==
          std::string::npos)
    return word;
  std::string q = "'";
  for (char c : word) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string shell_line(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& a : argv) line += (line.empty() ? "" : " ") + shell_quote(a);
  return line;
}

std::string WatchedRun::command() const { return shell_line(argv_); }

}  // namespace knotnet::memcap
