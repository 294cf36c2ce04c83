// Input conversion on the CPU: uint8 pixels to floating point in [0, 1] (x / 255), and class
// indices to one-hot rows.
#pragma once

#include <cstdint>

namespace knotnet::cpu {

// x: (n) uint8 -> y: (n) T, y = x / 255.
template <typename T>
void u8_to_unit(const uint8_t* x, T* y, int64_t n) {
  const T scale = T(1) / T(255);
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(x[i]) * scale;
}

// labels: (n) class indices in [0, k) -> onehot: (n, k). Returns false on an index out of range.
template <typename T>
bool indices_to_onehot(const int32_t* labels, T* onehot, int64_t n, int64_t k) {
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] < 0 || labels[i] >= k) return false;
    for (int64_t j = 0; j < k; ++j) onehot[i * k + j] = T(j == labels[i]);
  }
  return true;
}

}  // namespace knotnet::cpu
