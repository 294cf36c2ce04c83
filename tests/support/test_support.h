// Helpers shared by the tests: fresh random data (never zeros), temporary directories, paths.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace knotnet::test {

// n values uniform in [lo, hi), from a fixed seed (reproducible failures).
std::vector<double> random_values(int64_t n, uint64_t seed, double lo = -1.0, double hi = 1.0);
std::vector<float> random_floats(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

// A fresh, empty directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// The source tree (for fixtures) and the build tree (for built programs under bin/).
std::filesystem::path source_dir();
std::filesystem::path binary_dir();

// Runs a shell command, returns its exit status; stdout+stderr captured into `output`.
int run_command(const std::string& command, std::string* output = nullptr);

// True when this machine has a usable CUDA device (always false in a build without CUDA).
bool have_gpu();

// Sets an environment variable for one scope (the CUDA emulator's knobs, for one test).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  bool had_value_ = false;
  std::string old_value_;
};

}  // namespace knotnet::test
