// Our own tiled SGEMM (kernels/cuda/tile_gemm.cuh) and the dense layer on top of it (device
// side of kernels/cpu/dense.h): y = x * w + b with w stored (in, out) like Keras's Dense kernel.
// Strict fp32 (no TF32); cuBLAS appears only in the benchmarks, as the reference.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace knotnet::cuda {

// Row-major C = alpha * op(A) * op(B) + beta * C (+ bias[j] on every row when bias is not
// null), op(A): (m, k), op(B): (k, n), C: (m, n); lda/ldb/ldc are the stored row strides, as in
// kernels/cpu/gemm.h. beta == 0 never reads C (it may hold garbage). work: float workspace for
// split-K, may be null (no splitting); sgemm_workspace(m, n, k) floats enable the full split.
int64_t sgemm_workspace(int64_t m, int64_t n, int64_t k);
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const float* bias, float* work,
           int64_t work_floats, cudaStream_t stream);

// Bytes of workspace dense_forward and dense_backward need (the larger of the two).
size_t dense_workspace_bytes(int64_t n, int64_t in, int64_t out);

// x: (N, I), w: (I, O), b: (O) -> y: (N, O).
void dense_forward(const float* x, const float* w, const float* b, float* y, int64_t n, int64_t in, int64_t out,
                   void* work, size_t work_bytes, cudaStream_t stream);
// Overwrites dw: (I, O), db: (O), and dx: (N, I) unless dx is null.
void dense_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int64_t n,
                    int64_t in, int64_t out, void* work, size_t work_bytes, cudaStream_t stream);

}  // namespace knotnet::cuda
