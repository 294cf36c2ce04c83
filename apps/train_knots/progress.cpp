#include "apps/train_knots/progress.h"

#include <cmath>
#include <string>

namespace knotnet::app {

std::string format_duration(double seconds) {
  long s = std::lround(std::max(seconds, 0.0));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

void Progress::on_batch(const BatchProgress& p) {
  const int64_t epoch = p.epoch, step = p.step, steps = p.steps;
  if (epoch != epoch_ || step == 1) epoch_start_ = std::chrono::steady_clock::now();
  epoch_ = epoch;
  step_ = step;
  steps_ = steps;
  if (!terminal_) return;
  auto now = std::chrono::steady_clock::now();
  if (step != steps && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int kWidth = 24;
  int filled = steps > 0 ? static_cast<int>(kWidth * step / steps) : kWidth;
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>' + std::string(static_cast<size_t>(kWidth - filled - 1), '.');
  double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  double eta = step > 0 ? elapsed / double(step) * double(steps - step) : 0.0;
  std::fprintf(out_, "\rEpoch %lld/%lld %lld/%lld [%s] loss %.4f acc %.4f %.0f img/s ETA %s\033[K",
               static_cast<long long>(epoch), static_cast<long long>(epochs_), static_cast<long long>(step),
               static_cast<long long>(steps), bar.c_str(), p.loss, p.accuracy, p.images_per_second,
               format_duration(eta).c_str());
  std::fflush(out_);
}

void Progress::on_epoch_end(const EpochLog& log) {
  if (terminal_) std::fputc('\r', out_);
  std::fprintf(out_, "Epoch %lld/%lld %lld/%lld loss %.4f acc %.4f", static_cast<long long>(log.epoch),
               static_cast<long long>(epochs_), static_cast<long long>(steps_), static_cast<long long>(steps_),
               log.loss, log.accuracy);
  if (log.has_validation) std::fprintf(out_, " val_loss %.4f val_acc %.4f", log.val_loss, log.val_accuracy);
  std::fprintf(out_, " lr %.3g %.0f img/s %s%s\n", log.lr, log.images_per_second, format_duration(log.seconds).c_str(),
               terminal_ ? "\033[K" : "");
  std::fflush(out_);
}

}  // namespace knotnet::app
