// 2x2 pooling with stride 2 on the CPU, NHWC, floor mode: an odd height or width drops its last
// row or column, OH = H / 2, OW = W / 2.
//
// Max-pooling: forward records, for every output element, which of its window's four inputs was
// the maximum (0: top-left, 1: top-right, 2: bottom-left, 3: bottom-right; ties go to the first in
// that order), so backward routes each output gradient to exactly one input without reading x
// again.
//
// Average-pooling: the mean of the window, summed as (top-left + top-right) + (bottom-left +
// bottom-right) and then halved twice (one exact multiplication by 0.25), the order the GPU kernel
// keeps too; backward gives each of the four inputs a quarter of the output gradient.
#pragma once

#include <algorithm>
#include <cstdint>

namespace knotnet::cpu {

// x: (N, H, W, C) -> y: (N, H/2, W/2, C), argmax: (N, H/2, W/2, C) in [0, 4).
template <typename T>
void maxpool2_forward(const T* x, T* y, uint8_t* argmax, int64_t n, int64_t h, int64_t w, int64_t c) {
  const int64_t oh = h / 2, ow = w / 2;
  for (int64_t s = 0; s < n; ++s) {
    const T* xs = x + s * h * w * c;
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        const T* p0 = xs + ((2 * i) * w + 2 * j) * c;  // top-left of the window
        const T* p1 = p0 + c;                          // top-right
        const T* p2 = p0 + w * c;                      // bottom-left
        const T* p3 = p2 + c;                          // bottom-right
        T* yo = y + ((s * oh + i) * ow + j) * c;
        uint8_t* ao = argmax + ((s * oh + i) * ow + j) * c;
        for (int64_t ch = 0; ch < c; ++ch) {
          T best = p0[ch];
          uint8_t at = 0;
          if (p1[ch] > best) best = p1[ch], at = 1;
          if (p2[ch] > best) best = p2[ch], at = 2;
          if (p3[ch] > best) best = p3[ch], at = 3;
          yo[ch] = best;
          ao[ch] = at;
        }
      }
  }
}

// dy: (N, H/2, W/2, C), argmax from forward -> dx: (N, H, W, C), fully written: each output
// gradient lands on its window's maximum, zeros everywhere else (dropped rows/columns included).
template <typename T>
void maxpool2_backward(const T* dy, const uint8_t* argmax, T* dx, int64_t n, int64_t h, int64_t w, int64_t c) {
  const int64_t oh = h / 2, ow = w / 2;
  std::fill(dx, dx + n * h * w * c, T(0));
  for (int64_t s = 0; s < n; ++s) {
    T* dxs = dx + s * h * w * c;
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        T* p0 = dxs + ((2 * i) * w + 2 * j) * c;
        T* const corner[4] = {p0, p0 + c, p0 + w * c, p0 + w * c + c};
        const T* dyo = dy + ((s * oh + i) * ow + j) * c;
        const uint8_t* ao = argmax + ((s * oh + i) * ow + j) * c;
        for (int64_t ch = 0; ch < c; ++ch) corner[ao[ch]][ch] = dyo[ch];
      }
  }
}

// x: (N, H, W, C) -> y: (N, H/2, W/2, C), each the mean of its 2x2 window.
template <typename T>
void avgpool2_forward(const T* x, T* y, int64_t n, int64_t h, int64_t w, int64_t c) {
  const int64_t oh = h / 2, ow = w / 2;
  for (int64_t s = 0; s < n; ++s) {
    const T* xs = x + s * h * w * c;
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        const T* p0 = xs + ((2 * i) * w + 2 * j) * c;
        const T* p1 = p0 + c;
        const T* p2 = p0 + w * c;
        const T* p3 = p2 + c;
        T* yo = y + ((s * oh + i) * ow + j) * c;
        for (int64_t ch = 0; ch < c; ++ch) yo[ch] = ((p0[ch] + p1[ch]) + (p2[ch] + p3[ch])) * T(0.25);
      }
  }
}

// dy: (N, H/2, W/2, C) -> dx: (N, H, W, C), fully written: a quarter of each output gradient on
// each input of its window, zeros in a dropped row or column.
template <typename T>
void avgpool2_backward(const T* dy, T* dx, int64_t n, int64_t h, int64_t w, int64_t c) {
  const int64_t oh = h / 2, ow = w / 2;
  std::fill(dx, dx + n * h * w * c, T(0));
  for (int64_t s = 0; s < n; ++s) {
    T* dxs = dx + s * h * w * c;
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        T* p0 = dxs + ((2 * i) * w + 2 * j) * c;
        T* const corner[4] = {p0, p0 + c, p0 + w * c, p0 + w * c + c};
        const T* dyo = dy + ((s * oh + i) * ow + j) * c;
        for (int64_t ch = 0; ch < c; ++ch) {
          const T g = dyo[ch] * T(0.25);
          for (T* q : corner) q[ch] = g;
        }
      }
  }
}

}  // namespace knotnet::cpu
