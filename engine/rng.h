// Counter-based random numbers: a value is a pure function of (seed, stream, index), so CPU and
// GPU kernels, any thread count and a resumed run all draw the same numbers. The mixer is
// SplitMix64's finaliser applied twice over the combined counter; good enough for dropout
// masks, weight initialisation and shuffling, not for cryptography.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define KN_HD __host__ __device__ __forceinline__
#else
#define KN_HD inline
#endif

namespace knotnet {

KN_HD uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// 64 random bits for element `index` of stream `stream` under `seed`.
KN_HD uint64_t random_bits(uint64_t seed, uint64_t stream, uint64_t index) {
  return mix64(mix64(seed ^ mix64(stream)) + index);
}

// Uniform in [0, 1) with 24 bits of precision (exactly representable as float).
KN_HD float random_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return static_cast<float>(random_bits(seed, stream, index) >> 40) * (1.0f / 16777216.0f);
}

// Uniform in [0, 1) with 53 bits of precision.
KN_HD double random_uniform_double(uint64_t seed, uint64_t stream, uint64_t index) {
  return static_cast<double>(random_bits(seed, stream, index) >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace knotnet
