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

// Calls f(in, out) for every 2x2 window of an (N, H, W, C) tensor: in, the offset of its top-left
// input's first channel (the other corners are at +c, +w*c and +w*c+c); out, the offset of its
// pooled element's first channel in (N, H/2, W/2, C).
template <class F>
void for_each_pool2_window(int64_t n, int64_t h, int64_t w, int64_t c, F&& f) {
  const int64_t oh = h / 2, ow = w / 2;
  for (int64_t s = 0; s < n; ++s)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) f(((s * h + 2 * i) * w + 2 * j) * c, ((s * oh + i) * ow + j) * c);
}

// x: (N, H, W, C) -> y: (N, H/2, W/2, C), argmax: (N, H/2, W/2, C) in [0, 4).
template <typename T>
void maxpool2_forward(const T* x, T* y, uint8_t* argmax, int64_t n, int64_t h, int64_t w, int64_t c) {
  for_each_pool2_window(n, h, w, c, [&](int64_t in, int64_t out) {
    const T* p0 = x + in;     // top-left of the window
    const T* p1 = p0 + c;     // top-right
    const T* p2 = p0 + w * c; // bottom-left
    const T* p3 = p2 + c;     // bottom-right
    for (int64_t ch = 0; ch < c; ++ch) {
      T best = p0[ch];
      uint8_t at = 0;
      if (p1[ch] > best) best = p1[ch], at = 1;
      if (p2[ch] > best) best = p2[ch], at = 2;
      if (p3[ch] > best) best = p3[ch], at = 3;
      y[out + ch] = best;
      argmax[out + ch] = at;
    }
  });
}

// dy: (N, H/2, W/2, C), argmax from forward -> dx: (N, H, W, C), fully written: each output
// gradient lands on its window's maximum, zeros everywhere else (dropped rows/columns included).
template <typename T>
void maxpool2_backward(const T* dy, const uint8_t* argmax, T* dx, int64_t n, int64_t h, int64_t w, int64_t c) {
  std::fill(dx, dx + n * h * w * c, T(0));
  for_each_pool2_window(n, h, w, c, [&](int64_t in, int64_t out) {
    T* p0 = dx + in;
    T* const corner[4] = {p0, p0 + c, p0 + w * c, p0 + w * c + c};
    for (int64_t ch = 0; ch < c; ++ch) corner[argmax[out + ch]][ch] = dy[out + ch];
  });
}

// x: (N, H, W, C) -> y: (N, H/2, W/2, C), each the mean of its 2x2 window.
template <typename T>
void avgpool2_forward(const T* x, T* y, int64_t n, int64_t h, int64_t w, int64_t c) {
  for_each_pool2_window(n, h, w, c, [&](int64_t in, int64_t out) {
    const T* p0 = x + in;
    const T* p1 = p0 + c;
    const T* p2 = p0 + w * c;
    const T* p3 = p2 + c;
    for (int64_t ch = 0; ch < c; ++ch) y[out + ch] = ((p0[ch] + p1[ch]) + (p2[ch] + p3[ch])) * T(0.25);
  });
}

// dy: (N, H/2, W/2, C) -> dx: (N, H, W, C), fully written: a quarter of each output gradient on
// each input of its window, zeros in a dropped row or column.
template <typename T>
void avgpool2_backward(const T* dy, T* dx, int64_t n, int64_t h, int64_t w, int64_t c) {
  std::fill(dx, dx + n * h * w * c, T(0));
  for_each_pool2_window(n, h, w, c, [&](int64_t in, int64_t out) {
    T* p0 = dx + in;
    T* const corner[4] = {p0, p0 + c, p0 + w * c, p0 + w * c + c};
    for (int64_t ch = 0; ch < c; ++ch) {
      const T g = dy[out + ch] * T(0.25);
      for (T* q : corner) q[ch] = g;
    }
  });
}

}  // namespace knotnet::cpu
