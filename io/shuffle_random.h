// A stream of seeded random numbers for splits and epoch orders, drawn from the counter-based
// generator in engine/rng.h: the n-th draw of stream s under seed k is a pure function of
// (k, s, n), so a split or an epoch's order is reproduced exactly from its seed, epoch and
// purpose, whatever else ran before.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "engine/rng.h"

namespace knotnet {

class RandomStream {
 public:
  RandomStream(uint64_t seed, uint64_t stream) : seed_(seed), stream_(stream) {}
  uint64_t next() { return random_bits(seed_, stream_, counter_++); }
  // Uniform in [0, n) for n > 0 (modulo reduction: bias below n / 2^64).
  uint64_t below(uint64_t n) { return next() % n; }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  // Fisher-Yates.
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<size_t>(below(i))]);
  }

 private:
  uint64_t seed_, stream_, counter_ = 0;
};

// Stream numbers by purpose, so that no two uses of one seed share draws.
enum class RandomPurpose : uint64_t { split = 1, block_order = 2, window = 3 };
inline uint64_t random_stream_id(RandomPurpose purpose, uint64_t a = 0, uint64_t b = 0) {
  return mix64(mix64(static_cast<uint64_t>(purpose)) ^ mix64(a + 0x51ED27ull)) ^ mix64(b + 0xB10Cull);
}

}  // namespace knotnet
