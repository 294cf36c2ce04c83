// A one-line progress bar on stderr with images/s and the time left, drawn only when stderr is
// a terminal (logs and pipes get nothing).
#pragma once

#include <chrono>
#include <cstdint>

namespace knotnet::make_knots {

class Progress {
 public:
  // `total` images; enabled when stderr is a terminal.
  explicit Progress(int64_t total);
  // Ends the line if the bar was drawn and finish() was not reached (an error follows).
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  // `done` images so far; redraws at most five times a second.
  void update(int64_t done);
  // Draws the final state and ends the line.
  void finish();
  double seconds() const;

 private:
  void draw(int64_t done);

  int64_t total_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int64_t last_done_ = 0;
  bool drawn_ = false, finished_ = false;
};

}  // namespace knotnet::make_knots
