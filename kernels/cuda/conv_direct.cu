// The direct convolution forward (conv_direct.h).
#include "kernels/cuda/conv_direct.h"

#include <cstdint>

#include "engine/cuda_check.h"

namespace knotnet::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kPixels = 4;     // neighbouring output pixels of one row per thread
constexpr int kFilters = 16;   // filters per thread (and per block): 4 float4 of weights
constexpr int kMaxPatch = 27;  // K*K*C

// One thread: output pixels (img, oh, ow0 .. ow0 + 3) for filters f0 .. f0 + 15 (f0 = 16 *
// blockIdx.y); threads past the last pixel group only help stage the weights.
template <int K, int C>
__global__ void __launch_bounds__(kThreads) conv_direct_forward_kernel(const float* __restrict__ x,  // (N, H, W, C)
                                                                       const float* __restrict__ w,  // (F, K, K, C)
                                                                       const float* __restrict__ b,  // (F) or null
                                                                       float* __restrict__ y,  // (N, OH, OW, F)
                                                                       ConvDims d, bool vector_store) {
  constexpr int kPatch = K * K * C;
  static_assert(kPatch <= kMaxPatch, "the patch must fit the staged weights");
  // This block's 16 filters, patch-major: wq[q][j] holds filters f0 + 4j .. f0 + 4j + 3 at patch
  // element q (0 past the last filter).
  __shared__ float4 wq[kMaxPatch][kFilters / 4];
  const int64_t f0 = static_cast<int64_t>(blockIdx.y) * kFilters;
  const int tid = static_cast<int>(threadIdx.x);
  if (tid < kPatch * (kFilters / 4)) {
    const int q = tid / (kFilters / 4), j = tid % (kFilters / 4);
    float v[4];
    for (int i = 0; i < 4; ++i) {
      const int64_t f = f0 + 4 * j + i;
      v[i] = f < d.f ? w[f * kPatch + q] : 0.0f;
    }
    wq[q][j] = float4{v[0], v[1], v[2], v[3]};
  }
  __syncthreads();

  const int64_t groups_per_row = (d.ow + kPixels - 1) / kPixels;
  const int64_t g = static_cast<int64_t>(blockIdx.x) * kThreads + tid;
  if (g >= d.n * d.oh * groups_per_row) return;
  const int64_t row = g / groups_per_row;  // img * OH + oh
  const int64_t ow0 = (g % groups_per_row) * kPixels;
  const int64_t img = row / d.oh, oh = row % d.oh;

  // The K x (K + 3) x C inputs the four windows cover; 0 where they fall in the padding, as the
  // implicit GEMM's loader gives.
  float in[K][K + kPixels - 1][C];
#pragma unroll
  for (int kh = 0; kh < K; ++kh) {
    const int64_t ih = oh - d.pad_top + kh;
#pragma unroll
    for (int j = 0; j < K + kPixels - 1; ++j) {
      const int64_t iw = ow0 - d.pad_left + j;
      const bool inside = ih >= 0 && ih < d.h && iw >= 0 && iw < d.w;
      const int64_t at = inside ? ((img * d.h + ih) * d.w + iw) * C : 0;
#pragma unroll
      for (int c = 0; c < C; ++c) in[kh][j][c] = inside ? x[at + c] : 0.0f;
    }
  }

  float acc[kPixels][kFilters];
#pragma unroll
  for (int p = 0; p < kPixels; ++p)
#pragma unroll
    for (int f = 0; f < kFilters; ++f) acc[p][f] = 0.0f;
  // The patch in the implicit GEMM's order: q = (kh * K + kw) * C + c.
#pragma unroll
  for (int kh = 0; kh < K; ++kh)
#pragma unroll
    for (int kw = 0; kw < K; ++kw)
#pragma unroll
      for (int c = 0; c < C; ++c) {
        const int q = (kh * K + kw) * C + c;
        float wv[kFilters];
#pragma unroll
        for (int j = 0; j < kFilters / 4; ++j) {
          const float4 t = wq[q][j];
          wv[4 * j] = t.x, wv[4 * j + 1] = t.y, wv[4 * j + 2] = t.z, wv[4 * j + 3] = t.w;
        }
#pragma unroll
        for (int p = 0; p < kPixels; ++p) {
          const float xv = in[kh][kw + p][c];
#pragma unroll
          for (int f = 0; f < kFilters; ++f) acc[p][f] = fmaf(xv, wv[f], acc[p][f]);
        }
      }

  float bias[kFilters];
#pragma unroll
  for (int f = 0; f < kFilters; ++f) bias[f] = b && f0 + f < d.f ? b[f0 + f] : 0.0f;
#pragma unroll
  for (int p = 0; p < kPixels; ++p) {
    if (ow0 + p >= d.ow) break;
    float* out = y + (row * d.ow + ow0 + p) * d.f;
#pragma unroll
    for (int j = 0; j < kFilters / 4; ++j) {
      const int64_t f = f0 + 4 * j;
      if (f >= d.f) break;  // F is a multiple of 4: a group of 4 is all in or all out
      float v[4];
      for (int i = 0; i < 4; ++i) v[i] = b ? acc[p][4 * j + i] + bias[4 * j + i] : acc[p][4 * j + i];
      if (vector_store) {
        *reinterpret_cast<float4*>(out + f) = float4{v[0], v[1], v[2], v[3]};
      } else {
        for (int i = 0; i < 4; ++i) out[f + i] = v[i];
      }
    }
  }
}

template <int K, int C>
void launch(const float* x, const float* w, const float* b, float* y, const ConvDims& d, cudaStream_t stream) {
  const int64_t groups = d.n * d.oh * ((d.ow + kPixels - 1) / kPixels);
  const dim3 grid(static_cast<unsigned>((groups + kThreads - 1) / kThreads),
                  static_cast<unsigned>((d.f + kFilters - 1) / kFilters));
  const bool vector_store = reinterpret_cast<uintptr_t>(y) % 16 == 0;
  conv_direct_forward_kernel<K, C><<<grid, kThreads, 0, stream>>>(x, w, b, y, d, vector_store);
  KN_CUDA_CHECK_LAUNCH();
}

}  // namespace

bool conv_direct_supported(const ConvDims& d) {
  const bool shape = (d.k == 1 && d.c >= 1 && d.c <= 4) || (d.k == 3 && d.c >= 1 && d.c <= 3) ||
                     (d.k == 5 && d.c == 1);
  return shape && d.f > 0 && d.f % 4 == 0 && d.f / kFilters < 65535;
}

void conv_direct_forward(const float* x, const float* w, const float* b, float* y, const ConvDims& d,
                         cudaStream_t stream) {
  KN_CHECK(conv_direct_supported(d), "conv_direct_forward: a ", d.k, "x", d.k, "x", d.c, " convolution to ", d.f,
           " filters is not supported (K, C in (1, 1-4), (3, 1-3), (5, 1); F a multiple of 4)");
  if (d.n * d.oh * d.ow <= 0) return;
  switch (d.k * 10 + d.c) {
    case 11: return launch<1, 1>(x, w, b, y, d, stream);
    case 12: return launch<1, 2>(x, w, b, y, d, stream);
    case 13: return launch<1, 3>(x, w, b, y, d, stream);
    case 14: return launch<1, 4>(x, w, b, y, d, stream);
    case 31: return launch<3, 1>(x, w, b, y, d, stream);
    case 32: return launch<3, 2>(x, w, b, y, d, stream);
    case 33: return launch<3, 3>(x, w, b, y, d, stream);
    case 51: return launch<5, 1>(x, w, b, y, d, stream);
    default: KN_THROW("conv_direct_forward: no kernel for K = ", d.k, ", C = ", d.c);
  }
}

}  // namespace knotnet::cuda
