// Fully connected layer on the CPU through GEMM: y = x * w + b, with w stored (in, out) like
// Keras's Dense kernel (so the forward GEMM needs no transpose).
//   forward   y (N, O)   = x (N, I) * w (I, O) + b
//   backward  dw (I, O)  = x^T (I, N) * dy (N, O)
//             db (O)     = sum_n dy[n, :]          (summed in double: acc scratch)
//             dx (N, I)  = dy (N, O) * w^T (O, I)
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/gemm.h"

namespace knotnet::cpu {

// x: (N, I), w: (I, O), b: (O) -> y: (N, O).
template <typename T>
void dense_forward(const T* x, const T* w, const T* b, T* y, int64_t n, int64_t in, int64_t out) {
  if (n == 0) return;
  for (int64_t s = 0; s < n; ++s) std::memcpy(y + s * out, b, static_cast<size_t>(out) * sizeof(T));
  gemm(false, false, n, out, in, T(1), x, in, w, out, T(1), y, out);
}

// Overwrites dw: (I, O), db: (O), and dx: (N, I) unless dx is null. acc: (O) doubles, scratch.
template <typename T>
void dense_backward(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, int64_t n, int64_t in, int64_t out,
                    double* acc) {
  if (n == 0) {
    std::fill(dw, dw + in * out, T(0));
    std::fill(db, db + out, T(0));
    return;
  }
  gemm(true, false, in, out, n, T(1), x, in, dy, out, T(0), dw, out);
  std::fill(acc, acc + out, 0.0);
  for (int64_t s = 0; s < n; ++s)
    for (int64_t o = 0; o < out; ++o) acc[o] += static_cast<double>(dy[s * out + o]);
  for (int64_t o = 0; o < out; ++o) db[o] = static_cast<T>(acc[o]);
  if (dx) gemm(false, true, n, in, out, T(1), dy, out, w, out, T(0), dx, in);
}

}  // namespace knotnet::cpu
