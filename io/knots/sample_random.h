// The random stream of one sample attempt: draw k is knotnet::random_bits(seed, stream, k), so
// a sample's bytes depend only on (seed, sample index, class, attempt) and never on which
// thread rendered it or what was rendered before. The per-stream key is hashed once and kept,
// which makes each draw one mix64 (the noise of a 128x128 image needs thousands of draws).
#pragma once

#include <cstdint>

#include "engine/rng.h"

namespace knotnet::knots {

class SampleRandom {
 public:
  SampleRandom(uint64_t seed, uint64_t stream) : key_(mix64(seed ^ mix64(stream))) {}

  // Equals knotnet::random_bits(seed, stream, k) for the k-th call.
  uint64_t bits() { return mix64(key_ + counter_++); }
  // Uniform in [0, 1) with 53 bits.
  double uniform() { return static_cast<double>(bits() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n), n > 0 (the modulo bias is below 2^-32 for the n used here).
  int below(int n) { return static_cast<int>((bits() >> 32) % static_cast<uint64_t>(n)); }
  // +1 or -1 with equal probability.
  int sign() { return (bits() >> 63) ? 1 : -1; }

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

// The stream of attempt `attempt` at sample `index` of class `label`. Sample indices are the
// global row numbers of a dataset; up to 2^40 of them, and attempts up to 2^20.
inline uint64_t sample_stream(uint64_t index, int label, int attempt) {
  return (static_cast<uint64_t>(attempt) << 44) | (index << 2) | static_cast<uint64_t>(label);
}

}  // namespace knotnet::knots
