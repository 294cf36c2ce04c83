// A BatchSource over the generated toy problem (io/toy_data.h), for trainer tests: the order of
// an epoch is a function of the epoch index, as the trainer requires.
#pragma once

#include "engine/batch_source.h"
#include "io/toy_data.h"

namespace knotnet::test {

class ToySource : public BatchSource {
 public:
  ToySource(int64_t samples, int64_t batch, int64_t size, uint64_t seed, bool fixed = false)
      : samples_(samples), batch_(batch), size_(size), seed_(seed), fixed_(fixed) {}
  int64_t samples() const override { return samples_; }
  void begin_epoch(int64_t epoch) override {
    epoch_ = fixed_ ? 0 : epoch;
    pos_ = 0;
  }
  bool next(Tensor& images, Tensor& labels) override {
    if (pos_ >= samples_) return false;
    int64_t n = std::min(batch_, samples_ - pos_);
    b_ = make_toy_batch(epoch_ * samples_ + pos_, n, size_, size_, seed_);
    pos_ += n;
    images = Tensor(b_.images.data(), Shape{n, size_, size_, 3}, DType::u8);
    labels = Tensor(b_.labels.data(), Shape{n}, DType::i32);
    return true;
  }

 private:
  int64_t samples_, batch_, size_;
  uint64_t seed_;
  bool fixed_;
  int64_t epoch_ = 0, pos_ = 0;
  ToyBatch b_;
};

}  // namespace knotnet::test
