// The time an experiment may take (--deadline): every child's own time limit is cut to what is
// left, and runs that would start with too little time left are skipped and reported as such.
#pragma once

#include <algorithm>
#include <chrono>
#include <limits>

namespace knotnet::memcap {

class Deadline {
 public:
  // seconds <= 0: no deadline.
  explicit Deadline(double seconds) : start_(std::chrono::steady_clock::now()), seconds_(seconds) {}
  // Seconds left (infinite without a deadline).
  double left() const {
    if (seconds_ <= 0) return std::numeric_limits<double>::infinity();
    return seconds_ - std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  // `wanted` seconds, or what is left if that is less.
  double limit(double wanted) const { return std::max(0.0, std::min(wanted, left())); }
  // True when fewer than `needed` seconds are left.
  bool near(double needed) const { return left() < needed; }

 private:
  std::chrono::steady_clock::time_point start_;
  double seconds_;
};

}  // namespace knotnet::memcap
