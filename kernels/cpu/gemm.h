// Row-major GEMM on the CPU through OpenBLAS: C = alpha * op(A) * op(B) + beta * C, where
// op(A) is (m, k), op(B) is (k, n) and C is (m, n). lda/ldb/ldc are the row strides of the
// matrices as stored. Overloaded for float and double so templated kernels call one name.
#pragma once

#include <cstdint>

namespace knotnet::cpu {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

}  // namespace knotnet::cpu
