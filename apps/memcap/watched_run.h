// One program memcap runs and watches: the process, the files its output goes to, its time
// limit, and the peak of the device memory NVML reports for it, sampled on every poll (memcap
// itself never makes a CUDA context, so it disturbs nothing it measures).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "apps/memcap/child_process.h"

namespace knotnet::memcap {

class WatchedRun {
 public:
  // Starts argv now; stdout and stderr go to log_dir/stdout.log and log_dir/stderr.log.
  WatchedRun(std::string label, std::vector<std::string> argv, const std::filesystem::path& log_dir, double timeout_s);

  // Samples the process's device memory, reaps it when it has exited, stops it past its limit.
  void poll();
  bool running() const { return running_; }
  bool timed_out() const { return timed_out_; }
  const std::string& label() const { return label_; }
  const std::vector<std::string>& argv() const { return argv_; }
  std::string command() const;  // argv as one shell-quoted line
  ChildProcess& process() { return process_; }
  const ChildProcess& process() const { return process_; }
  std::filesystem::path stdout_path() const { return log_dir_ / "stdout.log"; }
  std::filesystem::path stderr_path() const { return log_dir_ / "stderr.log"; }
  // The largest per-process device memory NVML reported while it ran (nullopt: NVML is not
  // available, or the process never held device memory while sampled).
  std::optional<size_t> device_peak() const { return device_peak_; }
  int samples() const { return samples_; }

 private:
  std::string label_;
  std::vector<std::string> argv_;
  std::filesystem::path log_dir_;
  double timeout_s_;
  ChildProcess process_;
  bool running_ = true;
  bool timed_out_ = false;
  std::optional<size_t> device_peak_;
  int samples_ = 0;
};

// Polls `runs` every `period_s` until `until()` returns true or none is running. Returns true
// when `until()` ended the wait.
bool watch(const std::vector<WatchedRun*>& runs, const std::function<bool()>& until = nullptr, double period_s = 0.05);

// Runs argv to its end under watch (one progress line is the caller's business).
void run_to_end(WatchedRun& run);

// Quotes a word for a POSIX shell when it needs quoting.
std::string shell_quote(const std::string& word);
std::string shell_line(const std::vector<std::string>& argv);

}  // namespace knotnet::memcap
