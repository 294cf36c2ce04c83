// Inverted dropout on the CPU, with no mask buffer: the mask is a pure function of the run's
// seed, a stream and the element's flat index, so backward regenerates it.
//
// Element k (flat index into the whole (N, ...) batch tensor) is kept iff
//   u >= rate,  u = random_uniform(seed, stream, k)     (engine/rng.h: a multiple of 2^-24 in [0, 1))
// with the comparison made in double (u is exact in double, so this equals the integer test
// (random_bits >> 40) >= ceil(rate * 2^24)). Kept values are scaled by 1 / (1 - rate), dropped
// ones are 0; the layer passes stream = fnv1a64(layer name) + step. A Python reimplementation
// for the golden test depends on this exact formula: change it only together with that.
#pragma once

#include <cstdint>

#include "engine/rng.h"

namespace knotnet::cpu {

inline bool dropout_keep(uint64_t seed, uint64_t stream, uint64_t k, double rate) {
  return static_cast<double>(random_uniform(seed, stream, k)) >= rate;
}

// x -> y, both (count) (the flattened batch tensor). rate in [0, 1).
template <typename T>
void dropout_forward(const T* x, T* y, int64_t count, double rate, uint64_t seed, uint64_t stream) {
  const T scale = static_cast<T>(1.0 / (1.0 - rate));
  for (int64_t k = 0; k < count; ++k)
    y[k] = dropout_keep(seed, stream, static_cast<uint64_t>(k), rate) ? x[k] * scale : T(0);
}

// The same mask applied to the gradient: dx = dy * mask / (1 - rate).
template <typename T>
void dropout_backward(const T* dy, T* dx, int64_t count, double rate, uint64_t seed, uint64_t stream) {
  dropout_forward(dy, dx, count, rate, seed, stream);
}

}  // namespace knotnet::cpu
