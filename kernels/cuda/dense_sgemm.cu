// Tiled SGEMM (row-major, optional transposes, bias epilogue, split-K) and the dense layer's
// three products on the GPU. Non-obvious choice: the dense layer's forward, x (N, 25088) times
// w (25088, 128) in the seed model, has only four 64 x 64 output tiles, so it is split over K
// into ~66 slices summed in a second, deterministic pass; without split-K it would run on 4 of
// the card's 132 SMs.
#include "kernels/cuda/dense_sgemm.h"

#include <algorithm>

#include "kernels/cuda/reduce.h"
#include "kernels/cuda/tile_gemm.cuh"

namespace knotnet::cuda {

namespace {

// a(i, p) of op(A): A stored (m, k) row-major, or (k, m) when transposed.
template <bool TRANS>
struct StridedA {
  static constexpr bool k_fast = !TRANS;  // the index that is contiguous in memory varies fastest
  const float* a;
  int64_t lda;
  __device__ float operator()(int64_t i, int64_t p) const { return TRANS ? a[p * lda + i] : a[i * lda + p]; }
};

// b(p, j) of op(B): B stored (k, n) row-major, or (n, k) when transposed.
template <bool TRANS>
struct StridedB {
  static constexpr bool k_fast = TRANS;
  const float* b;
  int64_t ldb;
  __device__ float operator()(int64_t p, int64_t j) const { return TRANS ? b[j * ldb + p] : b[p * ldb + j]; }
};

struct OutputStore {
  float* c;
  int64_t ldc;
  float alpha, beta;
  const float* bias;
  __device__ void operator()(int, int64_t i, int64_t j, float v) const {
    float r = alpha * v;
    if (beta != 0.0f) r += beta * c[i * ldc + j];
    if (bias) r += bias[j];
    c[i * ldc + j] = r;
  }
};

// Dense layers run in the 64x64 tile whatever their shape (the weight gradient of the seed's
// first dense layer has 25,088 rows, which the core's shape rule would give 128x128): the tile
// their figures were measured in; the larger tiles are for the convolutions, which time them.
constexpr gemm::TileKind kDenseTile = gemm::TileKind::small;

template <bool TA, bool TB>
void sgemm_t(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
             float beta, float* c, int64_t ldc, const float* bias, float* work, int64_t work_floats,
             cudaStream_t stream) {
  gemm::run(StridedA<TA>{a, lda}, StridedB<TB>{b, ldb}, OutputStore{c, ldc, alpha, beta, bias}, m, n, k, work,
            work_floats, stream, kDenseTile);
}

}  // namespace

int64_t sgemm_workspace(int64_t m, int64_t n, int64_t k) { return gemm::splitk_workspace(m, n, k, kDenseTile); }

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const float* bias, float* work,
           int64_t work_floats, cudaStream_t stream) {
  if (trans_a)
    trans_b ? sgemm_t<true, true>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, work, work_floats, stream)
            : sgemm_t<true, false>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, work, work_floats, stream);
  else
    trans_b ? sgemm_t<false, true>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, work, work_floats, stream)
            : sgemm_t<false, false>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, work, work_floats, stream);
}

size_t dense_workspace_bytes(int64_t n, int64_t in, int64_t out) {
  const int64_t fwd = sgemm_workspace(n, out, in) * static_cast<int64_t>(sizeof(float));
  const int64_t dw = sgemm_workspace(in, out, n) * static_cast<int64_t>(sizeof(float));
  const int64_t dx = sgemm_workspace(n, in, out) * static_cast<int64_t>(sizeof(float));
  const int64_t db = column_sums_workspace(n, out) * static_cast<int64_t>(sizeof(double));
  return static_cast<size_t>(std::max({fwd, dw, dx, db}));
}

void dense_forward(const float* x, const float* w, const float* b, float* y, int64_t n, int64_t in, int64_t out,
                   void* work, size_t work_bytes, cudaStream_t stream) {
  if (n <= 0) return;
  sgemm(false, false, n, out, in, 1.0f, x, in, w, out, 0.0f, y, out, b, static_cast<float*>(work),
        static_cast<int64_t>(work_bytes / sizeof(float)), stream);
}

void dense_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int64_t n,
                    int64_t in, int64_t out, void* work, size_t work_bytes, cudaStream_t stream) {
  float* ws = static_cast<float*>(work);
  const int64_t ws_floats = static_cast<int64_t>(work_bytes / sizeof(float));
  // dw (I, O) = x^T (I, N) * dy (N, O); with n == 0 this writes zeros (an empty sum).
  sgemm(true, false, in, out, n, 1.0f, x, in, dy, out, 0.0f, dw, out, nullptr, ws, ws_floats, stream);
  KN_CHECK(work_bytes >= static_cast<size_t>(column_sums_workspace(n, out)) * sizeof(double),
           "dense_backward: workspace of ", work_bytes, " bytes is too small for the bias gradient");
  column_sums(dy, db, n, out, static_cast<double*>(work), stream);
  if (dx && n > 0) sgemm(false, true, n, in, out, 1.0f, dy, out, w, out, 0.0f, dx, in, nullptr, ws, ws_floats, stream);
}

}  // namespace knotnet::cuda
