// The geometry of a stride-1 k x k NHWC convolution as the CUDA kernels see it (the batch
// included). Padding follows Keras/TensorFlow and kernels/cpu/conv.h: 'valid' none, 'same'
// (k-1)/2 before and the rest after.
#pragma once

#include <cstdint>

namespace knotnet::cuda {

struct ConvDims {
  int64_t n = 0;                 // batch
  int64_t h = 0, w = 0, c = 0;   // input (H, W, C)
  int64_t k = 0;                 // kernel size
  int64_t f = 0;                 // filters
  int64_t pad_top = 0, pad_left = 0;
  int64_t oh = 0, ow = 0;        // output spatial size

  static ConvDims make(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t f, bool same) {
    ConvDims d;
    d.n = n, d.h = h, d.w = w, d.c = c, d.k = k, d.f = f;
    if (same) {
      d.pad_top = d.pad_left = (k - 1) / 2;
      d.oh = h, d.ow = w;
    } else {
      d.oh = h - k + 1, d.ow = w - k + 1;
    }
    return d;
  }
  // The same geometry for another batch size.
  ConvDims with_batch(int64_t batch) const {
    ConvDims d = *this;
    d.n = batch;
    return d;
  }
  // Symmetric padding (what cuDNN's legacy API can express): 'valid', or 'same' with odd k.
  bool symmetric() const { return pad_top * 2 == (oh - h + k - 1) && pad_left * 2 == (ow - w + k - 1); }
  int64_t patch() const { return k * k * c; }  // K*K*C, a filter's length
  double flops_forward() const { return 2.0 * static_cast<double>(n * oh * ow) * static_cast<double>(f * patch()); }
};

}  // namespace knotnet::cuda
