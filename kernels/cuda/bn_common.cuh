// Batch-norm pieces shared by batchnorm.cu (plain) and fused_bn_relu_pool.cu (BN + ReLU and
// BN + ReLU + 2x2 max-pool): the statistics reduction, the per-channel finalisation, and the
// backward reduction and dx pass, templated on where the gradient reaching BN's output comes
// from (GradMode). Included only by .cu files; kernels and their host launchers have internal
// linkage (an unnamed namespace), so each including file gets its own copies.
//
// Workspace (doubles), for R = reduce_row_blocks(M):
//   partials (R, 2, C) | stats (2, C): mean, inv_std | coef (3, C)
// coef holds (scale, shift) after a forward finalisation and (k, A, B) after a backward one,
// with dx = k * (g - A - x_hat * B).
#pragma once

#include <cmath>
#include <cstdint>

#include "engine/cuda_check.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/pool2.cuh"
#include "kernels/cuda/reduce.cuh"

namespace knotnet::cuda::bn {

struct Workspace {
  double* partials;  // (R, 2, C)
  double* stats;     // (2, C)
  double* coef;      // (3, C)
  int rows;          // R
};

inline int64_t workspace_doubles(int64_t m, int64_t c) { return (2 * static_cast<int64_t>(reduce_row_blocks(m)) + 5) * c; }

inline Workspace split(double* work, int64_t m, int64_t c) {
  Workspace w;
  w.rows = reduce_row_blocks(m);
  w.partials = work;
  w.stats = work + 2 * static_cast<int64_t>(w.rows) * c;
  w.coef = w.stats + 2 * c;
  return w;
}

// Where the gradient of BN's output comes from.
enum class GradMode {
  plain,      // dy: (M, C), BN's own output gradient
  relu,       // BN -> ReLU: g = y > 0 ? dy : 0, with y, dy: (M, C) the ReLU's output and its gradient
  relu_pool,  // BN -> ReLU -> maxpool 2: y, dy, argmax: (N, H/2, W/2, C) the pool's; g is dy at the
              // window's recorded maximum when that maximum is positive, else 0
};

struct GradSource {
  const float* dy = nullptr;
  const float* y = nullptr;
  const uint8_t* argmax = nullptr;
  int64_t h = 0, w = 0;  // relu_pool: BN's spatial size (the pool's input)
};

template <GradMode MODE>
__device__ __forceinline__ float grad_at(const GradSource& src, int64_t r, int64_t ch, int64_t c) {
  if constexpr (MODE == GradMode::plain) {
    return src.dy[r * c + ch];
  } else if constexpr (MODE == GradMode::relu) {
    const int64_t e = r * c + ch;
    return src.y[e] > 0.0f ? src.dy[e] : 0.0f;
  } else {
    const Pool2Slot at = pool2_slot(r, ch, src.h, src.w, c);
    if (at.pooled < 0 || src.argmax[at.pooled] != at.corner) return 0.0f;
    return src.y[at.pooled] > 0.0f ? src.dy[at.pooled] : 0.0f;
  }
}

// The per-element arithmetic of the backward, in one place: the per-element kernels and the
// per-window ones (GradMode::relu_pool) round identically because they run this same code.
// One element's terms of the sums of g and g * x_hat:
__device__ __forceinline__ void sums_add(double (&acc)[2], float g, float x, double mean, double inv_std) {
  const double gd = static_cast<double>(g);
  const double xh = (static_cast<double>(x) - mean) * inv_std;
  acc[0] += gd;
  acc[1] += gd * xh;
}

// One element's dx = k * (g - A - x_hat * B).
__device__ __forceinline__ float dx_value(float g, float x, double mean, double inv_std, double k, double a,
                                          double b) {
  const double gd = static_cast<double>(g);
  const double xh = (static_cast<double>(x) - mean) * inv_std;
  return static_cast<float>(k * (gd - a - xh * b));
}

namespace {

// Sums of (x - K) and (x - K)^2 per channel, K = x[0, ch] (a shift against cancellation when a
// channel's mean is large against its spread).
__global__ void stats_kernel(const float* __restrict__ x,      // (M, C)
                             double* __restrict__ partials,    // (R, 2, C)
                             int64_t m, int64_t c) {
  const int64_t ch = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  double acc[2] = {0.0, 0.0};
  if (ch < c) {
    const double shift = static_cast<double>(x[ch]);
    const int64_t step = static_cast<int64_t>(gridDim.y) * kRowLanes;
    for (int64_t r = static_cast<int64_t>(blockIdx.y) * kRowLanes + threadIdx.y; r < m; r += step) {
      const double d = static_cast<double>(x[r * c + ch]) - shift;
      acc[0] += d;
      acc[1] += d * d;
    }
  }
  reduce_block_store<2>(acc, partials, c, ch);
}

// Batch statistics -> saved mean / inv_std, running statistics, and (scale, shift) in coef.
__global__ void forward_finalize_kernel(const float* __restrict__ x,  // (M, C), row 0 read for the shift
                                        const double* __restrict__ partials, int rows, int64_t m, int64_t c,
                                        const float* __restrict__ gamma, const float* __restrict__ beta,
                                        float* __restrict__ moving_mean, float* __restrict__ moving_var,
                                        double momentum, double epsilon, float* __restrict__ save_mean,
                                        float* __restrict__ save_inv_std, double* __restrict__ coef) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t ch = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; ch < c; ch += stride) {
    const double inv_m = 1.0 / static_cast<double>(m);
    const double s = reduce_partials<2>(partials, rows, 0, c, ch) * inv_m;   // mean of (x - K)
    const double sq = reduce_partials<2>(partials, rows, 1, c, ch) * inv_m;  // mean of (x - K)^2
    const double mean = static_cast<double>(x[ch]) + s;
    const double var = fmax(sq - s * s, 0.0);
    const double inv_std = 1.0 / sqrt(var + epsilon);
    save_mean[ch] = static_cast<float>(mean);
    save_inv_std[ch] = static_cast<float>(inv_std);
    moving_mean[ch] = static_cast<float>(momentum * static_cast<double>(moving_mean[ch]) + (1.0 - momentum) * mean);
    moving_var[ch] = static_cast<float>(momentum * static_cast<double>(moving_var[ch]) + (1.0 - momentum) * var);
    const double scale = static_cast<double>(gamma[ch]) * inv_std;
    coef[ch] = scale;
    coef[c + ch] = static_cast<double>(beta[ch]) - mean * scale;
  }
}

// Running statistics -> (scale, shift) in coef, for inference.
__global__ void infer_affine_kernel(const float* __restrict__ gamma, const float* __restrict__ beta,
                                    const float* __restrict__ moving_mean, const float* __restrict__ moving_var,
                                    double epsilon, int64_t c, double* __restrict__ coef) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t ch = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; ch < c; ch += stride) {
    const double scale = static_cast<double>(gamma[ch]) / sqrt(static_cast<double>(moving_var[ch]) + epsilon);
    coef[ch] = scale;
    coef[c + ch] = static_cast<double>(beta[ch]) - static_cast<double>(moving_mean[ch]) * scale;
  }
}

// y = x * scale + shift (in double, rounded once), then ReLU when RELU.
template <bool RELU>
__global__ void apply_kernel(const float* x,                  // (M, C)
                             float* y,                        // (M, C), may alias x
                             const double* __restrict__ coef, // (2, C): scale, shift
                             int64_t m, int64_t c) {
  const int64_t total = m * c;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total; e += stride) {
    const int64_t ch = e % c;
    float v = static_cast<float>(static_cast<double>(x[e]) * coef[ch] + coef[c + ch]);
    if constexpr (RELU) v = v > 0.0f ? v : 0.0f;
    y[e] = v;
  }
}

// stats (2, C) = (mean, inv_std) in double: from the saved batch statistics (train) or from the
// running ones (infer: inv_std = 1 / sqrt(moving_var + eps)).
__global__ void stats_for_backward_kernel(const float* __restrict__ mean_in, const float* __restrict__ second_in,
                                          bool from_running, double epsilon, int64_t c, double* __restrict__ stats) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t ch = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; ch < c; ch += stride) {
    stats[ch] = static_cast<double>(mean_in[ch]);
    stats[c + ch] = from_running ? 1.0 / sqrt(static_cast<double>(second_in[ch]) + epsilon)
                                 : static_cast<double>(second_in[ch]);
  }
}

// Sums of g and g * x_hat per channel.
template <GradMode MODE>
__global__ void backward_sums_kernel(const float* __restrict__ x,      // (M, C)
                                     GradSource src,
                                     const double* __restrict__ stats, // (2, C)
                                     double* __restrict__ partials,    // (R, 2, C)
                                     int64_t m, int64_t c) {
  const int64_t ch = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  double acc[2] = {0.0, 0.0};
  if (ch < c) {
    const double mean = stats[ch], inv_std = stats[c + ch];
    const int64_t step = static_cast<int64_t>(gridDim.y) * kRowLanes;
    for (int64_t r = static_cast<int64_t>(blockIdx.y) * kRowLanes + threadIdx.y; r < m; r += step)
      sums_add(acc, grad_at<MODE>(src, r, ch, c), x[r * c + ch], mean, inv_std);
  }
  reduce_block_store<2>(acc, partials, c, ch);
}

// dbeta, dgamma, and coef = (k, A, B) for the dx pass.
__global__ void backward_finalize_kernel(const double* __restrict__ partials, int rows, int64_t m, int64_t c,
                                         bool train, const float* __restrict__ gamma,
                                         const double* __restrict__ stats, float* __restrict__ dgamma,
                                         float* __restrict__ dbeta, double* __restrict__ coef) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t ch = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; ch < c; ch += stride) {
    const double sdy = reduce_partials<2>(partials, rows, 0, c, ch);
    const double sdyxh = reduce_partials<2>(partials, rows, 1, c, ch);
    dbeta[ch] = static_cast<float>(sdy);
    dgamma[ch] = static_cast<float>(sdyxh);
    const double inv_m = 1.0 / static_cast<double>(m);
    coef[ch] = static_cast<double>(gamma[ch]) * stats[c + ch];
    coef[c + ch] = train ? sdy * inv_m : 0.0;
    coef[2 * c + ch] = train ? sdyxh * inv_m : 0.0;
  }
}

template <GradMode MODE>
__global__ void backward_dx_kernel(const float* __restrict__ x,       // (M, C)
                                   GradSource src,
                                   const double* __restrict__ stats,  // (2, C)
                                   const double* __restrict__ coef,   // (3, C)
                                   float* dx,                         // (M, C); may alias src.dy in plain mode
                                   int64_t m, int64_t c) {
  const int64_t total = m * c;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total; e += stride) {
    const int64_t ch = e % c, r = e / c;
    dx[e] = dx_value(grad_at<MODE>(src, r, ch, c), x[e], stats[ch], stats[c + ch], coef[ch], coef[c + ch],
                     coef[2 * c + ch]);
  }
}

// ---- GradMode::relu_pool: the same two passes, walked per window and per row, not per element ----
//
// The per-element kernels above spend most of their time in relu_pool's grad_at: pool2_slot's
// 64-bit divisions and modulos (a software routine each) for every input element. These two find
// the same gradient with no per-element division, and round every element exactly as above
// (sums_add, dx_value), so their results are bitwise the per-element kernels'.

// The sums: backward_sums_kernel's grid, block and rows, each thread summing the same rows in
// the same order (the partials must not change, so neither may the split of the work), but its
// row r = (s * H + row) * W + col is walked by adding the grid step's digits (dcol, drow, ds)
// with one carry each, instead of dividing r at every row. A row's argmax, y and dy are loaded
// together, not each behind the previous test (their values are used exactly as grad_at uses
// them), and one row ahead of the one being summed, so a thread has two rows' loads in flight
// rather than one chain of three dependent loads. With 32-bit indices this fits in 32 registers,
// so all 8 blocks of 256 threads an SM can hold are resident: the grid, fixed by the partials'
// layout, is (C / 32, <= 512) blocks, one wave at C = 64 on an H100, two if fewer fit.
// I: uint32_t or int64_t (pool2_fits_u32 of M * C).
template <class I>
__global__ void __launch_bounds__(kColTile * kRowLanes, sizeof(I) == 4 ? 8 : 4)
    backward_sums_pool_kernel(const float* __restrict__ x,       // (M, C)
                              GradSource src,
                              const double* __restrict__ stats,  // (2, C)
                              double* __restrict__ partials,     // (R, 2, C)
                              I m, Pool2Dims<I> d) {
  const I c = d.c;
  const I ch = static_cast<I>(blockIdx.x) * kColTile + threadIdx.x;
  const I first = static_cast<I>(blockIdx.y) * kRowLanes + threadIdx.y;
  double acc[2] = {0.0, 0.0};
  if (ch < c && first < m) {
    const double mean = stats[ch], inv_std = stats[c + ch];
    const I step = static_cast<I>(gridDim.y) * kRowLanes;
    const I dcol = step % d.w, drow = step / d.w % d.h, ds = step / d.w / d.h;
    I col = first % d.w, row = first / d.w % d.h, s = first / d.w / d.h;
    const I rows_in = 2 * d.oh, cols_in = 2 * d.ow;  // rows and columns some window holds
    // Row r's loads, then the walk to the next row.
    struct Row {
      float x, y, dy;
      int want;  // the corner argmax must name for g to be taken, -1 where no window holds the row
      uint8_t at;
    };
    auto fetch = [&](I r) {
      Row v;
      v.x = x[r * c + ch];
      v.want = -1, v.at = 0, v.y = 0.0f, v.dy = 0.0f;
      if (row < rows_in && col < cols_in) {
        const I o = ((s * d.oh + row / 2) * d.ow + col / 2) * c + ch;
        v.want = static_cast<int>((row % 2) * 2 + col % 2);
        v.at = src.argmax[o], v.y = src.y[o], v.dy = src.dy[o];
      }
      col += dcol;  // r += step, digit by digit
      if (col >= d.w) col -= d.w, ++row;
      row += drow;
      if (row >= d.h) row -= d.h, ++s;
      s += ds;
      return v;
    };
    Row cur = fetch(first);
    for (I r = first; r < m; r += step) {
      Row next{};
      if (r + step < m) next = fetch(r + step);
      const float g = cur.at == cur.want ? (cur.y > 0.0f ? cur.dy : 0.0f) : 0.0f;
      sums_add(acc, g, cur.x, mean, inv_std);
      cur = next;
    }
  }
  reduce_block_store<2>(acc, partials, static_cast<int64_t>(c), static_cast<int64_t>(ch));
}

// The dx pass: one thread per (window, group of VEC channels). A thread loads its window's
// argmax, y and dy, the window's four x and its channels' statistics and coefficients once (the
// per-element kernel loaded five doubles per element), and writes the four dx; the last window
// of a row/column also writes the dx of the uncovered odd column/row beside it (gradient 0
// there, as grad_at gives), so every dx element is written exactly once. VEC = 2 (float2 along C)
// when C is even and the pointers are 8-byte aligned, else 1: with VEC = 4 the coefficients of
// four channels (twenty doubles) and four float4 of x take about 90 registers, two blocks per SM;
// with 2, 56 registers and four blocks, the same bytes in flight per SM, and a warp's float2
// accesses still cover 256 contiguous bytes.
template <int VEC, class I>
__global__ void backward_dx_pool_kernel(const float* __restrict__ x,       // (N, H, W, C)
                                        GradSource src,                    // y, dy, argmax: (N, H/2, W/2, C)
                                        const double* __restrict__ stats,  // (2, C)
                                        const double* __restrict__ coef,   // (3, C)
                                        float* dx,                         // (N, H, W, C)
                                        Pool2Dims<I> d) {
  const I c = d.c;
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I t = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; t < d.items; t += stride) {
    const Pool2Window<I> win = pool2_window(t, d, VEC);
    uint8_t at[VEC];
    float yv[VEC], dyv[VEC], xv[4][VEC];
    load_vec<VEC>(src.argmax + t * VEC, at);
    load_vec<VEC>(src.y + t * VEC, yv);
    load_vec<VEC>(src.dy + t * VEC, dyv);
#pragma unroll
    for (int q = 0; q < 4; ++q) load_vec<VEC>(x + win.origin + pool2_corner(q, d), xv[q]);
    // Channel by channel, so that only one channel's five coefficients are live at a time.
    float out[4][VEC];
#pragma unroll
    for (int v = 0; v < VEC; ++v) {
      const I ch = win.ch + v;
      const double mean = stats[ch], inv_std = stats[c + ch];
      const double k = coef[ch], a = coef[c + ch], b = coef[2 * c + ch];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const float g = at[v] == q ? (yv[v] > 0.0f ? dyv[v] : 0.0f) : 0.0f;
        out[q][v] = dx_value(g, xv[q][v], mean, inv_std, k, a, b);
      }
    }
#pragma unroll
    for (int q = 0; q < 4; ++q) store_vec<VEC>(dx + win.origin + pool2_corner(q, d), out[q]);
    pool2_for_uncovered(win, d, [&](I off) {
      float xu[VEC], o[VEC];
      load_vec<VEC>(x + off, xu);
#pragma unroll
      for (int v = 0; v < VEC; ++v) {
        const I ch = win.ch + v;
        o[v] = dx_value(0.0f, xu[v], stats[ch], stats[c + ch], coef[ch], coef[c + ch], coef[2 * c + ch]);
      }
      store_vec<VEC>(dx + off, o);
    });
  }
}

template <class I>
void backward_sums_pool(const float* x, const GradSource& src, int64_t m, int64_t c, const Workspace& w,
                        cudaStream_t stream) {
  const Pool2Dims<I> d = pool2_dims<I>(m / (src.h * src.w), src.h, src.w, c, 1);
  backward_sums_pool_kernel<I><<<reduce_grid(m, c), reduce_block(), 0, stream>>>(x, src, w.stats, w.partials,
                                                                                 static_cast<I>(m), d);
  KN_CUDA_CHECK_LAUNCH();
}

template <int VEC, class I>
void backward_dx_pool(const float* x, const GradSource& src, float* dx, int64_t m, int64_t c, const Workspace& w,
                      cudaStream_t stream) {
  const Pool2Dims<I> d = pool2_dims<I>(m / (src.h * src.w), src.h, src.w, c, VEC);
  const int64_t items = static_cast<int64_t>(d.items);
  backward_dx_pool_kernel<VEC, I><<<grid_for(items), kBlock, 0, stream>>>(x, src, w.stats, w.coef, dx, d);
  KN_CUDA_CHECK_LAUNCH();
}

// Host side: the statistics and finalisation of a training forward (leaves scale, shift in coef).
void forward_train_stats(const float* x, int64_t m, int64_t c, const float* gamma, const float* beta,
                                float* moving_mean, float* moving_var, double momentum, double epsilon,
                                float* save_mean, float* save_inv_std, const Workspace& w, cudaStream_t stream) {
  stats_kernel<<<reduce_grid(m, c), reduce_block(), 0, stream>>>(x, w.partials, m, c);
  KN_CUDA_CHECK_LAUNCH();
  forward_finalize_kernel<<<grid_for(c), kBlock, 0, stream>>>(x, w.partials, w.rows, m, c, gamma, beta, moving_mean,
                                                              moving_var, momentum, epsilon, save_mean, save_inv_std,
                                                              w.coef);
  KN_CUDA_CHECK_LAUNCH();
}

void forward_infer_affine(int64_t c, const float* gamma, const float* beta, const float* moving_mean,
                                 const float* moving_var, double epsilon, const Workspace& w, cudaStream_t stream) {
  infer_affine_kernel<<<grid_for(c), kBlock, 0, stream>>>(gamma, beta, moving_mean, moving_var, epsilon, c, w.coef);
  KN_CUDA_CHECK_LAUNCH();
}

// Host side: the whole backward for one GradMode. train: gradients through the batch statistics
// (mean_in, second_in = saved mean, inv_std); else through constants (mean_in, second_in =
// moving mean, moving variance). dx may be null.
template <GradMode MODE>
void backward(const float* x, const GradSource& src, float* dx, int64_t m, int64_t c, const float* gamma,
              const float* mean_in, const float* second_in, bool train, double epsilon, float* dgamma, float* dbeta,
              const Workspace& w, cudaStream_t stream) {
  stats_for_backward_kernel<<<grid_for(c), kBlock, 0, stream>>>(mean_in, second_in, !train, epsilon, c, w.stats);
  KN_CUDA_CHECK_LAUNCH();
  [[maybe_unused]] const bool u32 = pool2_fits_u32(m * c);  // the relu_pool kernels' index type
  if constexpr (MODE == GradMode::relu_pool) {
    if (u32) backward_sums_pool<uint32_t>(x, src, m, c, w, stream);
    else backward_sums_pool<int64_t>(x, src, m, c, w, stream);
  } else {
    backward_sums_kernel<MODE><<<reduce_grid(m, c), reduce_block(), 0, stream>>>(x, src, w.stats, w.partials, m, c);
    KN_CUDA_CHECK_LAUNCH();
  }
  backward_finalize_kernel<<<grid_for(c), kBlock, 0, stream>>>(w.partials, w.rows, m, c, train, gamma, w.stats,
                                                               dgamma, dbeta, w.coef);
  KN_CUDA_CHECK_LAUNCH();
  if (!dx) return;
  if constexpr (MODE == GradMode::relu_pool) {
    if (src.h >= 2 && src.w >= 2) {  // else no window: the per-element kernel below, every g = 0
      const bool vec2 = c % 2 == 0 && pool2_aligned(x, 8) && pool2_aligned(src.y, 8) && pool2_aligned(src.dy, 8) &&
                        pool2_aligned(src.argmax, 2) && pool2_aligned(dx, 8);
      if (vec2 && u32) backward_dx_pool<2, uint32_t>(x, src, dx, m, c, w, stream);
      else if (vec2) backward_dx_pool<2, int64_t>(x, src, dx, m, c, w, stream);
      else if (u32) backward_dx_pool<1, uint32_t>(x, src, dx, m, c, w, stream);
      else backward_dx_pool<1, int64_t>(x, src, dx, m, c, w, stream);
      return;
    }
  }
  backward_dx_kernel<MODE><<<grid_for(m * c), kBlock, 0, stream>>>(x, src, w.stats, w.coef, dx, m, c);
  KN_CUDA_CHECK_LAUNCH();
}

}  // namespace

}  // namespace knotnet::cuda::bn
