// Implicit-GEMM convolution: the three products of a convolution run through the tiled SGEMM
// core with loaders that read the input (or output gradient) as if it were the im2col matrix.
// Non-obvious choice: the data gradient is a GEMM of its own over dx's positions (each dx
// element gathers from dy through the flipped window), not the adjoint of im2col with a
// scatter-add, so every dx element is written once, with no atomics and no zero-fill, and the
// result does not depend on scheduling.
#include "kernels/cuda/conv_implicit_gemm.h"

#include <algorithm>

#include "kernels/cuda/reduce.h"
#include "kernels/cuda/tile_gemm.cuh"

namespace knotnet::cuda {

namespace {

// im2col(x)(p, q): p = ((s * OH) + oh) * OW + ow, q = (kh * K + kw) * C + c.
struct Im2colLoad {
  static constexpr bool k_fast = true;  // q runs along c: contiguous in x
  const float* x;
  ConvDims d;
  __device__ float operator()(int64_t p, int64_t q) const {
    const int64_t ow = p % d.ow;
    const int64_t t = p / d.ow;
    const int64_t oh = t % d.oh;
    const int64_t s = t / d.oh;
    const int64_t c = q % d.c;
    const int64_t r = q / d.c;
    const int64_t kw = r % d.k;
    const int64_t kh = r / d.k;
    const int64_t ih = oh + kh - d.pad_top, iw = ow + kw - d.pad_left;
    if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) return 0.0f;
    return x[((s * d.h + ih) * d.w + iw) * d.c + c];
  }
};

// im2col(x) as the B operand of the weight gradient: b(p, q), p the K index, q the column.
struct Im2colB {
  static constexpr bool k_fast = false;  // q (the column) is the contiguous index
  Im2colLoad load;
  __device__ float operator()(int64_t p, int64_t q) const { return load(p, q); }
};

// w^T (KKC, F): b(q, f) = w[f, q].
struct WeightT {
  static constexpr bool k_fast = true;  // q is contiguous within a filter
  const float* w;
  int64_t kkc;
  __device__ float operator()(int64_t q, int64_t f) const { return w[f * kkc + q]; }
};

// The data gradient's A: a(e, q) with e = ((s * H) + ih) * W + iw over dx's positions and
// q = (kh * K + kw) * F + f; it reads dy at (ih - kh + pad_top, iw - kw + pad_left).
struct DyWindowLoad {
  static constexpr bool k_fast = true;  // q runs along f: contiguous in dy
  const float* dy;
  ConvDims d;
  __device__ float operator()(int64_t e, int64_t q) const {
    const int64_t iw = e % d.w;
    const int64_t t = e / d.w;
    const int64_t ih = t % d.h;
    const int64_t s = t / d.h;
    const int64_t f = q % d.f;
    const int64_t r = q / d.f;
    const int64_t kw = r % d.k;
    const int64_t kh = r / d.k;
    const int64_t oh = ih - kh + d.pad_top, ow = iw - kw + d.pad_left;
    if (oh < 0 || oh >= d.oh || ow < 0 || ow >= d.ow) return 0.0f;
    return dy[((s * d.oh + oh) * d.ow + ow) * d.f + f];
  }
};

// The data gradient's B: b(q, c) = w[f, kh, kw, c] with q = (kh * K + kw) * F + f.
struct WeightForData {
  static constexpr bool k_fast = false;  // c is contiguous
  const float* w;
  ConvDims d;
  __device__ float operator()(int64_t q, int64_t c) const {
    const int64_t f = q % d.f;
    const int64_t r = q / d.f;  // kh * K + kw
    return w[(f * d.k * d.k + r) * d.c + c];
  }
};

// The weight gradient's A: dy^T (F, P): a(f, p) = dy[p, f].
struct DyT {
  static constexpr bool k_fast = false;  // f (the row) is contiguous in dy
  const float* dy;
  int64_t f;
  __device__ float operator()(int64_t row, int64_t p) const { return dy[p * f + row]; }
};

// Plain row-major store, optional per-column bias; overwrites.
struct RowStore {
  float* out;
  int64_t ld;
  const float* bias;
  __device__ void operator()(int, int64_t i, int64_t j, float v) const { out[i * ld + j] = bias ? v + bias[j] : v; }
};

}  // namespace

size_t conv_igemm_workspace_bytes(const ConvDims& d) {
  const int64_t p = d.n * d.oh * d.ow;
  const int64_t dw = gemm::splitk_workspace(d.f, d.patch(), p) * static_cast<int64_t>(sizeof(float));
  const int64_t db = column_sums_workspace(p, d.f) * static_cast<int64_t>(sizeof(double));
  return static_cast<size_t>(std::max(dw, db));
}

void conv_igemm_forward(const float* x, const float* w, const float* b, float* y, const ConvDims& d,
                        cudaStream_t stream) {
  const int64_t p = d.n * d.oh * d.ow;
  if (p <= 0) return;
  gemm::run(Im2colLoad{x, d}, WeightT{w, d.patch()}, RowStore{y, d.f, b}, p, d.f, d.patch(), nullptr, 0, stream);
}

void conv_igemm_backward_filter(const float* x, const float* dy, float* dw, float* db, const ConvDims& d, void* work,
                                size_t work_bytes, cudaStream_t stream) {
  const int64_t p = d.n * d.oh * d.ow;
  KN_CHECK(work_bytes >= static_cast<size_t>(column_sums_workspace(p, d.f)) * sizeof(double),
           "conv_igemm_backward: workspace of ", work_bytes, " bytes is too small for the bias gradient");
  column_sums(dy, db, p, d.f, static_cast<double*>(work), stream);
  // dw (F, KKC) = dy^T (F, P) * im2col(x) (P, KKC); P == 0 writes zeros.
  gemm::run(DyT{dy, d.f}, Im2colB{Im2colLoad{x, d}}, RowStore{dw, d.patch(), nullptr}, d.f, d.patch(), p,
            static_cast<float*>(work), static_cast<int64_t>(work_bytes / sizeof(float)), stream);
}

void conv_igemm_backward_data(const float* dy, const float* w, float* dx, const ConvDims& d, cudaStream_t stream) {
  if (d.n <= 0) return;
  gemm::run(DyWindowLoad{dy, d}, WeightForData{w, d}, RowStore{dx, d.c, nullptr}, d.n * d.h * d.w, d.c,
            d.k * d.k * d.f, nullptr, 0, stream);
}

void conv_igemm_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                         const ConvDims& d, void* work, size_t work_bytes, cudaStream_t stream) {
  conv_igemm_backward_filter(x, dy, dw, db, d, work, work_bytes, stream);
  if (dx) conv_igemm_backward_data(dy, w, dx, d, stream);
}

}  // namespace knotnet::cuda
