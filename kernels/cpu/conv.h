// 2-D convolution on the CPU, NHWC, k x k window, stride 1, with bias, through GEMM.
//
//   y[n, oh, ow, f] = b[f] + sum_{kh, kw, c} x[n, oh + kh - pad_top, ow + kw - pad_left, c] * w[f, kh, kw, c]
//
// Weights are (F, K, K, C) ("OHWI", cuDNN's NHWC filter layout), so each filter is one row of a
// (F, K*K*C) matrix. The one choice worth knowing: im2col runs one sample at a time into a
// column buffer of (OH*OW, K*K*C) (not the whole batch), so the scratch does not grow with the
// batch; the GEMMs are then per sample:
//   forward        y_n (P, F)      = col_n (P, KKC) * w^T (KKC, F)          [+ bias]
//   weight grad    dw (F, KKC)    += dy_n^T (F, P) * col_n (P, KKC)         (beta 0 for n = 0)
//   data grad      dcol_n (P, KKC) = dy_n (P, F) * w (F, KKC), then col2im into dx_n
// where P = OH*OW and KKC = K*K*C. Padding: 'valid' has none; 'same' pads (K-1)/2 before and
// the rest after, like Keras/TensorFlow (so an even K pads one more after than before).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/gemm.h"

namespace knotnet::cpu {

struct ConvGeometry {
  int64_t h = 0, w = 0, c = 0;  // input (H, W, C) per sample
  int64_t k = 0;                // kernel size
  int64_t f = 0;                // filters (output channels)
  int64_t pad_top = 0, pad_left = 0;
  int64_t oh = 0, ow = 0;  // output spatial size

  // same = false: 'valid'; true: 'same'.
  static ConvGeometry make(int64_t h, int64_t w, int64_t c, int64_t k, int64_t f, bool same) {
    ConvGeometry g;
    g.h = h, g.w = w, g.c = c, g.k = k, g.f = f;
    if (same) {
      g.pad_top = g.pad_left = (k - 1) / 2;
      g.oh = h, g.ow = w;
    } else {
      g.oh = h - k + 1, g.ow = w - k + 1;
    }
    return g;
  }
  int64_t positions() const { return oh * ow; }  // P
  int64_t patch() const { return k * k * c; }    // KKC
  // A 1x1 'valid' convolution needs no im2col: the input already is the column matrix.
  bool identity_columns() const { return k == 1 && pad_top == 0 && pad_left == 0; }
};

// x: (H, W, C) one sample -> col: (OH*OW, K*K*C), zeros where the window leaves the input.
template <typename T>
void im2col(const T* x, T* col, const ConvGeometry& g) {
  const int64_t c = g.c;
  T* out = col;
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow)
      for (int64_t kh = 0; kh < g.k; ++kh) {
        const int64_t ih = oh + kh - g.pad_top;
        for (int64_t kw = 0; kw < g.k; ++kw, out += c) {
          const int64_t iw = ow + kw - g.pad_left;
          if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w)
            std::fill(out, out + c, T(0));
          else
            std::memcpy(out, x + (ih * g.w + iw) * c, static_cast<size_t>(c) * sizeof(T));
        }
      }
}

// col: (OH*OW, K*K*C) -> x: (H, W, C) one sample, OVERWRITTEN with the sum of every column
// entry that im2col would have copied from each position (the adjoint of im2col).
template <typename T>
void col2im(const T* col, T* x, const ConvGeometry& g) {
  const int64_t c = g.c;
  std::fill(x, x + g.h * g.w * c, T(0));
  const T* in = col;
  for (int64_t oh = 0; oh < g.oh; ++oh)
    for (int64_t ow = 0; ow < g.ow; ++ow)
      for (int64_t kh = 0; kh < g.k; ++kh) {
        const int64_t ih = oh + kh - g.pad_top;
        for (int64_t kw = 0; kw < g.k; ++kw, in += c) {
          const int64_t iw = ow + kw - g.pad_left;
          if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
          T* dst = x + (ih * g.w + iw) * c;
          for (int64_t i = 0; i < c; ++i) dst[i] += in[i];
        }
      }
}

// x: (N, H, W, C), w: (F, K, K, C), b: (F) -> y: (N, OH, OW, F). col: (OH*OW, K*K*C) scratch.
template <typename T>
void conv_forward(const T* x, const T* w, const T* b, T* y, int64_t n, const ConvGeometry& g, T* col) {
  const int64_t P = g.positions(), KKC = g.patch(), F = g.f;
  for (int64_t s = 0; s < n; ++s) {
    const T* xs = x + s * g.h * g.w * g.c;
    T* ys = y + s * P * F;
    const T* cols = xs;
    if (!g.identity_columns()) {
      im2col(xs, col, g);
      cols = col;
    }
    for (int64_t p = 0; p < P; ++p) std::memcpy(ys + p * F, b, static_cast<size_t>(F) * sizeof(T));
    gemm(false, true, P, F, KKC, T(1), cols, KKC, w, KKC, T(1), ys, F);
  }
}

// The bias gradient alone: db (F) = the sum of dy (N, OH, OW, F) over its first three axes, in
// double (N*OH*OW terms) in acc (F), in row order.
template <typename T>
void conv_bias_gradient(const T* dy, T* db, int64_t n, const ConvGeometry& g, double* acc) {
  const int64_t rows = n * g.positions(), F = g.f;
  std::fill(acc, acc + F, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t f = 0; f < F; ++f) acc[f] += static_cast<double>(dy[r * F + f]);
  for (int64_t f = 0; f < F; ++f) db[f] = static_cast<T>(acc[f]);
}

// Gradients of conv_forward. x: (N, H, W, C), w: (F, K, K, C), dy: (N, OH, OW, F).
// Writes (overwrites) dw: (F, K, K, C), db: (F), and dx: (N, H, W, C) unless dx is null.
// col: (OH*OW, K*K*C) scratch, reused for the columns of x and then for their gradient.
// acc: (F) doubles, scratch: the bias gradient sums N*OH*OW terms, so it is summed in double.
template <typename T>
void conv_backward(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, int64_t n, const ConvGeometry& g, T* col,
                   double* acc) {
  const int64_t P = g.positions(), KKC = g.patch(), F = g.f, HWC = g.h * g.w * g.c;
  if (n == 0) {
    std::fill(dw, dw + F * KKC, T(0));
    std::fill(db, db + F, T(0));
    return;
  }
  conv_bias_gradient(dy, db, n, g, acc);
  for (int64_t s = 0; s < n; ++s) {
    const T* xs = x + s * HWC;
    const T* dys = dy + s * P * F;
    const T* cols = xs;
    if (!g.identity_columns()) {
      im2col(xs, col, g);
      cols = col;
    }
    gemm(true, false, F, KKC, P, T(1), dys, F, cols, KKC, s == 0 ? T(0) : T(1), dw, KKC);
    if (dx) {
      T* dxs = dx + s * HWC;
      if (g.identity_columns()) {
        gemm(false, false, P, KKC, F, T(1), dys, F, w, KKC, T(0), dxs, KKC);
      } else {
        gemm(false, false, P, KKC, F, T(1), dys, F, w, KKC, T(0), col, KKC);
        col2im(col, dxs, g);
      }
    }
  }
}

}  // namespace knotnet::cpu
