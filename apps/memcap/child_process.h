// A program memcap starts and watches: posix_spawn with stdout and stderr sent to files, polled
// without blocking (so that one loop can watch several children and sample their GPU memory),
// stopped when its time is up, and reaped with wait4 for its exit status and its peak resident
// memory (ru_maxrss: the child's own, or that of a descendant it waited for if larger).
#pragma once

#include <sys/types.h>
#include <sys/wait.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace knotnet::memcap {

class ChildProcess {
 public:
  // Starts argv[0] (a path, or a name looked up on PATH) with memcap's environment. Throws
  // knotnet::Error naming the program when it cannot be started.
  ChildProcess(const std::vector<std::string>& argv, const std::string& stdout_path, const std::string& stderr_path);
  // A child still running is stopped and reaped.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Reaps the child when it has exited; true while it runs.
  bool running();
  // SIGTERM, then SIGKILL when it has not exited after `grace_s`; returns once it is reaped.
  void stop(double grace_s = 2.0);
  // Seconds from the start to now, or to the exit once reaped.
  double seconds() const;

  // Valid once running() has returned false.
  bool exited() const { return WIFEXITED(status_); }
  int exit_code() const { return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1; }
  int signal() const { return WIFSIGNALED(status_) ? WTERMSIG(status_) : 0; }
  size_t peak_rss_bytes() const { return peak_rss_; }
  std::string status_text() const;  // "exit 0", "exit 1", "killed by signal 9"

 private:
  void reap(int options);
  pid_t pid_ = -1;
  bool done_ = false;
  int status_ = 0;
  size_t peak_rss_ = 0;
  std::chrono::steady_clock::time_point start_, end_;
};

}  // namespace knotnet::memcap
