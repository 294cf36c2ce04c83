#include "apps/memcap/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "engine/error.h"

extern char** environ;

namespace knotnet::memcap {

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& stdout_path,
                           const std::string& stderr_path) {
  KN_CHECK(!argv.empty(), "no program to start");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  start_ = std::chrono::steady_clock::now();
  const int rc = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  KN_CHECK(rc == 0, "cannot start ", argv[0], ": ", std::strerror(rc));
}

ChildProcess::~ChildProcess() {
  if (done_ || pid_ <= 0) return;
  try {
    stop(0.5);
  } catch (const std::exception&) {
    // Nothing left to wait for (already reaped elsewhere): no exception leaves a destructor.
  }
}

void ChildProcess::reap(int options) {
  if (done_) return;
  int status = 0;
  rusage usage{};
  pid_t r;
  do {
    r = wait4(pid_, &status, options, &usage);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    done_ = true;
    status_ = status;
    peak_rss_ = static_cast<size_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
    end_ = std::chrono::steady_clock::now();
  } else if (r < 0) {
    KN_THROW("waiting for process ", pid_, ": ", std::strerror(errno));
  }
}

bool ChildProcess::running() {
  reap(WNOHANG);
  return !done_;
}

void ChildProcess::stop(double grace_s) {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace_s);
  while (running() && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (!done_) {
    ::kill(pid_, SIGKILL);
    reap(0);
  }
}

double ChildProcess::seconds() const {
  const auto end = done_ ? end_ : std::chrono::steady_clock::now();
  return std::chrono::duration<double>(end - start_).count();
}

std::string ChildProcess::status_text() const {
  if (!done_) return "running";
  if (WIFEXITED(status_)) return "exit " + std::to_string(WEXITSTATUS(status_));
  if (WIFSIGNALED(status_)) return "killed by signal " + std::to_string(WTERMSIG(status_));
  return "status " + std::to_string(status_);
}

}  // namespace knotnet::memcap
