// Progress bar. The rate shown is the average since the start, which is steady enough for an
// ETA because every image costs about the same.
#include "apps/make_knots/progress.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "engine/format.h"

namespace knotnet::make_knots {

namespace {
std::string clock_text(double seconds) {
  long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}
}  // namespace

Progress::Progress(int64_t total)
    : total_(total), enabled_(::isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() {
  if (drawn_ && !finished_) std::fputc('\n', stderr);
}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(int64_t done) {
  last_done_ = done;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(200) && done < total_) return;
  last_draw_ = now;
  draw(done);
}

void Progress::finish() {
  finished_ = true;
  if (!enabled_) return;
  draw(last_done_);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

void Progress::draw(int64_t done) {
  constexpr int kWidth = 30;
  double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  int filled = static_cast<int>(frac * kWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  drawn_ = true;
  double secs = seconds();
  double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
  std::string eta = rate > 0 ? clock_text(static_cast<double>(total_ - done) / rate) : "?";
  std::fprintf(stderr, "\r[%s] %5.1f%% %s/%s images  %s img/s  ETA %s  ", bar.c_str(), 100 * frac,
               format_count(done).c_str(), format_count(total_).c_str(), format_count(static_cast<int64_t>(rate)).c_str(),
               eta.c_str());
  std::fflush(stderr);
}

}  // namespace knotnet::make_knots
