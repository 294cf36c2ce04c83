// TF32 on the CPU, for judging the GPU's TF32 results: tensor cores multiply float32 operands cut
// to TF32 (8-bit exponent, 10-bit mantissa) and add the products in float32. Rounding a
// convolution's operands this way before the CPU reference's float32 GEMM gives what an exact
// TF32 convolution computes, up to the order of the additions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace knotnet::cpu {

// How float32 becomes TF32: to nearest with ties to even (PTX's cvt.rn; cvt.rna would take ties
// away from zero), or by dropping the 13 low mantissa bits, as tensor cores do when fed float32
// directly.
enum class Tf32Rounding : uint8_t { none, nearest, truncate };

inline float to_tf32(float v, Tf32Rounding r) {
  if (r == Tf32Rounding::none) return v;
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  if ((u & 0x7F800000u) == 0x7F800000u) return v;  // Inf and NaN stay as they are
  // Adding just under half of the dropped part's range, plus the kept part's last bit, rounds to
  // nearest with ties to even; a carry into the exponent is the correct rounding up.
  if (r == Tf32Rounding::nearest) u += 0x0FFFu + ((u >> 13) & 1u);
  u &= 0xFFFFE000u;
  float out;
  std::memcpy(&out, &u, sizeof out);
  return out;
}

inline void to_tf32(const float* in, float* out, size_t n, Tf32Rounding r) {
  for (size_t i = 0; i < n; ++i) out[i] = to_tf32(in[i], r);
}

}  // namespace knotnet::cpu
