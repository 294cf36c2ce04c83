// Counter-based random numbers: a value is a pure function of (seed, stream, index), so CPU and
// GPU kernels, any thread count and a resumed run all draw the same numbers. The mixer is
// SplitMix64's finaliser applied twice over the combined counter; good enough for dropout
// masks, weight initialisation and shuffling, not for cryptography.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

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

// 64-bit FNV-1a of a byte string (offset basis 0xcbf29ce484222325, prime 0x100000001b3): how a
// layer's name becomes its random stream. Dropout draws element k of its mask as
// random_uniform(seed, fnv1a64(layer name) + step, k), so the mask is a pure function of the
// run's seed, the layer's name and the training step (and a Python reimplementation can match it).
KN_HD uint64_t fnv1a64(const char* bytes, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i]));
    h *= 0x100000001b3ull;
  }
  return h;
}

inline uint64_t fnv1a64(std::string_view s) { return fnv1a64(s.data(), s.size()); }

}  // namespace knotnet
