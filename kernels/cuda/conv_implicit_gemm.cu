// Implicit-GEMM convolution: the three products of a convolution run through the tiled SGEMM
// core with loaders that read the input (or output gradient) as if it were the im2col matrix.
// Non-obvious choice: the data gradient is a GEMM of its own over dx's positions (each dx
// element gathers from dy through the flipped window), not the adjoint of im2col with a
// scatter-add, so every dx element is written once, with no atomics and no zero-fill, and the
// result does not depend on scheduling.
#include "kernels/cuda/conv_implicit_gemm.h"

#include <algorithm>

#include "kernels/cuda/conv_direct.h"
#include "kernels/cuda/reduce.h"
#include "kernels/cuda/tile_gemm.cuh"

namespace knotnet::cuda {

namespace {

// Each loader below but WeightT is a cursor (tile_gemm.cuh): its flat indices are taken apart
// with 64-bit divisions once per staging slot and tile, not for every element (eight of them per
// element of im2col(x), which cost far more than the element's share of the multiply-adds), then
// moved along K by additions. The values loaded, and so the results, are those of indexing each
// element from scratch (checked bit for bit against that former code on the emulator).

// Moves (lo, mid, hi), the mixed-radix digits of a flat index with lo < lo_n and mid < mid_n, on
// by `step`; hi grows without bound (a cursor past the end of K is never read).
__device__ __forceinline__ void advance_digits(int& lo, int& mid, int& hi, int step, int lo_n, int mid_n) {
  lo += step;
  while (lo >= lo_n) {
    lo -= lo_n;
    if (++mid == mid_n) {
      mid = 0;
      ++hi;
    }
  }
}

// im2col(x)(p, q): p = ((s * OH) + oh) * OW + ow, q = (kh * K + kw) * C + c.
struct Im2colLoad {
  static constexpr bool k_fast = true;  // q runs along c: contiguous in x
  const float* x;
  ConvDims d;
  // Row p fixed (its image and window origin), q moving along the patch.
  struct Cursor {
    const float* img;  // x's image s
    int ih0, iw0;      // the window's top-left (may be negative: padding)
    int c, kw, kh;     // q's digits
  };
  __device__ Cursor start(int64_t p, int64_t q) const {
    const int64_t t = p / d.ow;
    const int64_t r = q / d.c;
    return Cursor{x + (t / d.oh) * d.h * d.w * d.c, static_cast<int>(t % d.oh - d.pad_top),
                  static_cast<int>(p % d.ow - d.pad_left), static_cast<int>(q % d.c), static_cast<int>(r % d.k),
                  static_cast<int>(r / d.k)};
  }
  __device__ float load(const Cursor& u) const {
    const int ih = u.ih0 + u.kh, iw = u.iw0 + u.kw;
    if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) return 0.0f;
    return u.img[(static_cast<int64_t>(ih) * d.w + iw) * d.c + u.c];
  }
  __device__ void next(Cursor& u, int step) const {
    advance_digits(u.c, u.kw, u.kh, step, static_cast<int>(d.c), static_cast<int>(d.k));
  }
};

// im2col(x) as the B operand of the weight gradient: b(p, q), p the K index, q the column.
struct Im2colB {
  static constexpr bool k_fast = false;  // q (the column) is the contiguous index
  const float* x;
  ConvDims d;
  // Column q fixed (its patch element), p moving over the output positions.
  struct Cursor {
    int c, kw, kh;   // q's digits
    int ow, oh;      // p's digits,
    int64_t s;       // and its image
  };
  __device__ Cursor start(int64_t q, int64_t p) const {
    const int64_t r = q / d.c, t = p / d.ow;
    return Cursor{static_cast<int>(q % d.c), static_cast<int>(r % d.k), static_cast<int>(r / d.k),
                  static_cast<int>(p % d.ow), static_cast<int>(t % d.oh), t / d.oh};
  }
  __device__ float load(const Cursor& u) const {
    const int64_t ih = u.oh + u.kh - d.pad_top, iw = u.ow + u.kw - d.pad_left;
    if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) return 0.0f;
    return x[((u.s * d.h + ih) * d.w + iw) * d.c + u.c];
  }
  __device__ void next(Cursor& u, int step) const {
    u.ow += step;
    while (u.ow >= d.ow) {
      u.ow -= static_cast<int>(d.ow);
      if (++u.oh == d.oh) {
        u.oh = 0;
        ++u.s;
      }
    }
  }
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
  // Row e fixed (its image and position), q moving along the flipped window.
  struct Cursor {
    const float* img;  // dy's image s
    int oh0, ow0;      // (ih + pad_top, iw + pad_left): the output row/column at kh = kw = 0
    int f, kw, kh;     // q's digits
  };
  __device__ Cursor start(int64_t e, int64_t q) const {
    const int64_t t = e / d.w;
    const int64_t r = q / d.f;
    return Cursor{dy + (t / d.h) * d.oh * d.ow * d.f, static_cast<int>(t % d.h + d.pad_top),
                  static_cast<int>(e % d.w + d.pad_left), static_cast<int>(q % d.f), static_cast<int>(r % d.k),
                  static_cast<int>(r / d.k)};
  }
  __device__ float load(const Cursor& u) const {
    const int oh = u.oh0 - u.kh, ow = u.ow0 - u.kw;
    if (oh < 0 || oh >= d.oh || ow < 0 || ow >= d.ow) return 0.0f;
    return u.img[(static_cast<int64_t>(oh) * d.ow + ow) * d.f + u.f];
  }
  __device__ void next(Cursor& u, int step) const {
    advance_digits(u.f, u.kw, u.kh, step, static_cast<int>(d.f), static_cast<int>(d.k));
  }
};

// The data gradient's B: b(q, c) = w[f, kh, kw, c] with q = (kh * K + kw) * F + f.
struct WeightForData {
  static constexpr bool k_fast = false;  // c is contiguous
  const float* w;
  ConvDims d;
  // Column c fixed, q moving: its digits f and r = kh * K + kw.
  struct Cursor {
    int64_t c;
    int f, r;
  };
  __device__ Cursor start(int64_t c, int64_t q) const {
    return Cursor{c, static_cast<int>(q % d.f), static_cast<int>(q / d.f)};
  }
  __device__ float load(const Cursor& u) const {
    return w[(static_cast<int64_t>(u.f) * d.k * d.k + u.r) * d.c + u.c];
  }
  __device__ void next(Cursor& u, int step) const {
    u.f += step;
    while (u.f >= d.f) {
      u.f -= static_cast<int>(d.f);
      ++u.r;
    }
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
  const int64_t direct = static_cast<int64_t>(conv_direct_filter_workspace_bytes(d));
  return static_cast<size_t>(std::max({dw, db, direct}));
}

void conv_igemm_forward(const float* x, const float* w, const float* b, float* y, const ConvDims& d,
                        cudaStream_t stream, gemm::TileKind tile) {
  if (tile == gemm::TileKind::direct) return conv_direct_forward(x, w, b, y, d, stream);
  const int64_t p = d.n * d.oh * d.ow;
  if (p <= 0) return;
  gemm::run(Im2colLoad{x, d}, WeightT{w, d.patch()}, RowStore{y, d.f, b}, p, d.f, d.patch(), nullptr, 0, stream,
            tile);
}

void conv_igemm_backward_filter(const float* x, const float* dy, float* dw, float* db, const ConvDims& d, void* work,
                                size_t work_bytes, cudaStream_t stream, gemm::TileKind tile) {
  if (tile == gemm::TileKind::direct) return conv_direct_backward_filter(x, dy, dw, db, d, work, work_bytes, stream);
  const int64_t p = d.n * d.oh * d.ow;
  KN_CHECK(work_bytes >= static_cast<size_t>(column_sums_workspace(p, d.f)) * sizeof(double),
           "conv_igemm_backward: workspace of ", work_bytes, " bytes is too small for the bias gradient");
  column_sums(dy, db, p, d.f, static_cast<double*>(work), stream);
  // dw (F, KKC) = dy^T (F, P) * im2col(x) (P, KKC); P == 0 writes zeros.
  gemm::run(DyT{dy, d.f}, Im2colB{x, d}, RowStore{dw, d.patch(), nullptr}, d.f, d.patch(), p,
            static_cast<float*>(work), static_cast<int64_t>(work_bytes / sizeof(float)), stream, tile);
}

void conv_igemm_backward_data(const float* dy, const float* w, float* dx, const ConvDims& d, cudaStream_t stream,
                              gemm::TileKind tile) {
  KN_CHECK(tile != gemm::TileKind::direct, "conv_igemm_backward_data: the direct convolution has no data gradient");
  if (d.n <= 0) return;
  gemm::run(DyWindowLoad{dy, d}, WeightForData{w, d}, RowStore{dx, d.c, nullptr}, d.n * d.h * d.w, d.c,
            d.k * d.k * d.f, nullptr, 0, stream, tile);
}

void conv_igemm_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                         const ConvDims& d, void* work, size_t work_bytes, cudaStream_t stream) {
  conv_igemm_backward_filter(x, dy, dw, db, d, work, work_bytes, stream);
  if (dx) conv_igemm_backward_data(dy, w, dx, d, stream);
}

}  // namespace knotnet::cuda
