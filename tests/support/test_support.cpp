#include "tests/support/test_support.h"

#include <cstdio>
#include <cstdlib>
#include <random>
#include <sys/wait.h>

#include "tests/support/cuda_testing.h"

namespace knotnet::test {

std::vector<double> random_values(int64_t n, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<float> random_floats(int64_t n, uint64_t seed, float lo, float hi) {
  auto d = random_values(n, seed, lo, hi);
  return std::vector<float>(d.begin(), d.end());
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "knotnet-test-XXXXXX").string();
  char* made = mkdtemp(tmpl.data());
  if (!made) throw std::runtime_error("cannot create a temporary directory");
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path source_dir() { return KNOTNET_SOURCE_DIR; }
std::filesystem::path binary_dir() { return KNOTNET_BINARY_DIR; }

int run_command(const std::string& command, std::string* output) {
  std::string cmd = command + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, p)) > 0)
    if (output) output->append(buf, got);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

bool have_gpu() { return cuda_device_present(); }

ScopedEnv::ScopedEnv(const char* name, const char* value) : name_(name) {
  if (const char* old = std::getenv(name)) {
    had_value_ = true;
    old_value_ = old;
  }
  setenv(name, value, 1);
}

ScopedEnv::~ScopedEnv() {
  if (had_value_)
    setenv(name_.c_str(), old_value_.c_str(), 1);
  else
    unsetenv(name_.c_str());
}

}  // namespace knotnet::test
