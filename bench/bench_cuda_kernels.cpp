// Kernel microbenchmarks on the GPU at the seed model's shapes (batch 128): each kernel timed
// with CUDA events on the compute stream, the L2 cache flushed (a memset twice its size)
// before every repeat, and reported as GB/s (with the share of the measured device-to-device
// copy bandwidth, the card's practical ceiling) or TFLOP/s. Comparisons: fused BN+ReLU+pool
// against the unfused chain, our SGEMM against cuBLAS, the implicit-GEMM convolution against
// cuDNN (fp32 and TF32).
//
//   bench_cuda_kernels [--benchmark_filter=REGEX] [--benchmark_out=F --benchmark_out_format=json]
#include <benchmark/benchmark.h>

#include <cstdio>

#include "bench/cuda_bench.h"

#ifdef KNOTNET_HAVE_CUDA
#include <cublas_v2.h>

#include <random>
#include <vector>

#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "kernels/cuda/avgpool.h"
#include "kernels/cuda/batchnorm.h"
#include "kernels/cuda/conv_cudnn.h"
#include "kernels/cuda/conv_direct.h"
#include "kernels/cuda/conv_implicit_gemm.h"
#include "kernels/cuda/convert.h"
#include "kernels/cuda/dense_sgemm.h"
#include "kernels/cuda/dropout.h"
#include "kernels/cuda/fused_bn_relu_pool.h"
#include "kernels/cuda/maxpool.h"
#include "kernels/cuda/optim.h"
#include "kernels/cuda/relu.h"

namespace {

using namespace knotnet;

double g_copy_gbps = 0;  // set by BM_Copy, which runs first

// A device buffer filled with U(-1, 1) floats (a 16M-element host pattern, tiled).
struct Buf {
  void* p = nullptr;
  size_t bytes = 0;
  explicit Buf(size_t n_bytes, bool fill = true) : bytes(n_bytes) {
    KN_CUDA_CHECK(cudaMalloc(&p, bytes));
    if (!fill) return;
    static std::vector<float> pattern = [] {
      std::vector<float> v(size_t{1} << 24);
      std::mt19937 rng(7);
      std::uniform_real_distribution<float> d(-1.0f, 1.0f);
      for (auto& x : v) x = d(rng);
      return v;
    }();
    const size_t chunk = pattern.size() * sizeof(float);
    for (size_t off = 0; off < bytes; off += chunk)
      KN_CUDA_CHECK(cudaMemcpy(static_cast<char*>(p) + off, pattern.data(), std::min(chunk, bytes - off),
                               cudaMemcpyHostToDevice));
  }
  ~Buf() { cudaFree(p); }
  float* f() const { return static_cast<float*>(p); }
  template <typename T>
  T* as() const { return static_cast<T*>(p); }
};

size_t l2_bytes() {
  int v = 0;
  KN_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrL2CacheSize, CudaContext::get().device()));
  return static_cast<size_t>(v);
}

// One flush buffer for the whole run, twice the L2 size.
Buf& flush_buffer() {
  static Buf flush(2 * l2_bytes(), false);
  return flush;
}

// Times f(stream) per iteration with events, flushing L2 first; sets GB/s and TFLOP/s counters.
template <class F>
void timed(benchmark::State& st, double bytes, double flops, F&& f) {
  const cudaStream_t s = CudaContext::get().compute();
  Buf& flush = flush_buffer();
  cudaEvent_t a, b;
  KN_CUDA_CHECK(cudaEventCreate(&a));
  KN_CUDA_CHECK(cudaEventCreate(&b));
  f(s);  // warm-up (first-launch costs, cuDNN plan caches)
  KN_CUDA_CHECK(cudaStreamSynchronize(s));
  double total_s = 0;
  int64_t iters = 0;
  for (auto _ : st) {
    KN_CUDA_CHECK(cudaMemsetAsync(flush.p, iters & 0xFF, flush.bytes, s));
    KN_CUDA_CHECK(cudaEventRecord(a, s));
    f(s);
    KN_CUDA_CHECK(cudaEventRecord(b, s));
    KN_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    KN_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    st.SetIterationTime(ms / 1e3);
    total_s += ms / 1e3;
    ++iters;
  }
  KN_CUDA_CHECK(cudaEventDestroy(a));
  KN_CUDA_CHECK(cudaEventDestroy(b));
  if (iters == 0) return;
  const double per = total_s / static_cast<double>(iters);
  if (bytes > 0) {
    st.counters["GB/s"] = bytes / per / 1e9;
    if (g_copy_gbps > 0) st.counters["pct_copy"] = 100.0 * bytes / per / 1e9 / g_copy_gbps;
  }
  if (flops > 0) st.counters["TFLOP/s"] = flops / per / 1e12;
}

// Seed-model shapes at batch 128.
constexpr int64_t kN = 128, kH = 126, kW = 126, kC = 64;  // conv_1 output, BN/ReLU/pool input
constexpr int64_t kAct = kN * kH * kW * kC;
constexpr int64_t kPooled = kN * (kH / 2) * (kW / 2) * kC;
constexpr int64_t kParams = 3379811;

void BM_Copy(benchmark::State& st) {
  const size_t bytes = size_t{1} << 30;
  Buf src(bytes, false), dst(bytes, false);
  timed(st, 2.0 * bytes, 0, [&](cudaStream_t s) {
    KN_CUDA_CHECK(cudaMemcpyAsync(dst.p, src.p, bytes, cudaMemcpyDeviceToDevice, s));
  });
  g_copy_gbps = st.counters["GB/s"];
}

void BM_U8ToUnit(benchmark::State& st) {
  const int64_t n = kN * 128 * 128 * 3;
  Buf x(static_cast<size_t>(n)), y(static_cast<size_t>(n) * 4, false);
  timed(st, 5.0 * n, 0, [&](cudaStream_t s) { cuda::u8_to_unit(x.as<uint8_t>(), y.f(), n, s); });
}

void BM_ReluForward(benchmark::State& st) {
  Buf x(kAct * 4), y(kAct * 4, false);
  timed(st, 8.0 * kAct, 0, [&](cudaStream_t s) { cuda::relu_forward(x.f(), y.f(), kAct, s); });
}

void BM_ReluBackward(benchmark::State& st) {
  Buf y(kAct * 4), dy(kAct * 4), dx(kAct * 4, false);
  timed(st, 12.0 * kAct, 0, [&](cudaStream_t s) { cuda::relu_backward(y.f(), dy.f(), dx.f(), kAct, s); });
}

void BM_MaxPoolForward(benchmark::State& st) {
  Buf x(kAct * 4), y(kPooled * 4, false), am(kPooled, false);
  timed(st, 4.0 * kAct + 5.0 * kPooled, 0,
        [&](cudaStream_t s) { cuda::maxpool2_forward(x.f(), y.f(), am.as<uint8_t>(), kN, kH, kW, kC, s); });
}

void BM_MaxPoolBackward(benchmark::State& st) {
  Buf dy(kPooled * 4), am(kPooled, false), dx(kAct * 4, false);
  KN_CUDA_CHECK(cudaMemset(am.p, 0, am.bytes));
  KN_CUDA_CHECK(cudaDeviceSynchronize());  // the compute stream does not wait for the default one
  timed(st, 4.0 * kAct + 5.0 * kPooled, 0,
        [&](cudaStream_t s) { cuda::maxpool2_backward(dy.f(), am.as<uint8_t>(), dx.f(), kN, kH, kW, kC, s); });
}

// seed_avgpool's first layer: the 128x128x3 images averaged to 64x64 (3 channels: one at a time).
void BM_AvgPoolForwardInput(benchmark::State& st) {
  const int64_t n = kN * 128 * 128 * 3;
  Buf x(static_cast<size_t>(n) * 4), y(static_cast<size_t>(n / 4) * 4, false);
  timed(st, 5.0 * n, 0, [&](cudaStream_t s) { cuda::avgpool2_forward(x.f(), y.f(), kN, 128, 128, 3, s); });
}

// At the seed's pool shape (not run there: the seed max-pools), 4 channels at a time.
void BM_AvgPoolBackward(benchmark::State& st) {
  Buf dy(kPooled * 4), dx(kAct * 4, false);
  timed(st, 4.0 * kAct + 4.0 * kPooled, 0,
        [&](cudaStream_t s) { cuda::avgpool2_backward(dy.f(), dx.f(), kN, kH, kW, kC, s); });
}

struct BnState {
  Buf gamma{kC * 4}, beta{kC * 4}, mm{kC * 4}, mv{kC * 4}, sm{kC * 4}, si{kC * 4}, dg{kC * 4}, db{kC * 4};
  Buf work{static_cast<size_t>(cuda::batchnorm_workspace(kN * kH * kW, kC)) * 8, false};
  BnState() {
    std::vector<float> ones(kC, 1.0f);
    KN_CUDA_CHECK(cudaMemcpy(mv.p, ones.data(), kC * 4, cudaMemcpyHostToDevice));
    KN_CUDA_CHECK(cudaMemcpy(si.p, ones.data(), kC * 4, cudaMemcpyHostToDevice));
  }
};

void BM_BatchNormForwardTrain(benchmark::State& st) {
  BnState b;
  Buf x(kAct * 4), y(kAct * 4, false);
  timed(st, 12.0 * kAct, 0, [&](cudaStream_t s) {  // stats read + apply read/write
    cuda::batchnorm_forward_train(x.f(), y.f(), kN * kH * kW, kC, b.gamma.f(), b.beta.f(), b.mm.f(), b.mv.f(), 0.99,
                                  1e-3, b.sm.f(), b.si.f(), b.work.as<double>(), s);
  });
}

void BM_BatchNormBackwardTrain(benchmark::State& st) {
  BnState b;
  Buf x(kAct * 4), dy(kAct * 4), dx(kAct * 4, false);
  timed(st, 20.0 * kAct, 0, [&](cudaStream_t s) {  // sums read x, dy; dx pass reads x, dy, writes dx
    cuda::batchnorm_backward_train(x.f(), dy.f(), dx.f(), kN * kH * kW, kC, b.gamma.f(), b.sm.f(), b.si.f(), b.dg.f(),
                                   b.db.f(), b.work.as<double>(), s);
  });
}

// BN -> ReLU -> maxpool forward, unfused then fused. Bytes: what the fused kernels must move.
void BM_BnReluPoolForwardUnfused(benchmark::State& st) {
  BnState b;
  Buf x(kAct * 4), t1(kAct * 4, false), t2(kAct * 4, false), y(kPooled * 4, false), am(kPooled, false);
  timed(st, 8.0 * kAct + 5.0 * kPooled, 0, [&](cudaStream_t s) {
    cuda::batchnorm_forward_train(x.f(), t1.f(), kN * kH * kW, kC, b.gamma.f(), b.beta.f(), b.mm.f(), b.mv.f(), 0.99,
                                  1e-3, b.sm.f(), b.si.f(), b.work.as<double>(), s);
    cuda::relu_forward(t1.f(), t2.f(), kAct, s);
    cuda::maxpool2_forward(t2.f(), y.f(), am.as<uint8_t>(), kN, kH, kW, kC, s);
  });
}

void BM_BnReluPoolForwardFused(benchmark::State& st) {
  BnState b;
  Buf x(kAct * 4), y(kPooled * 4, false), am(kPooled, false);
  cuda::BnParams p;
  p.gamma = b.gamma.f(), p.beta = b.beta.f(), p.moving_mean = b.mm.f(), p.moving_var = b.mv.f();
  p.save_mean = b.sm.f(), p.save_inv_std = b.si.f();
  timed(st, 8.0 * kAct + 5.0 * kPooled, 0, [&](cudaStream_t s) {
    cuda::bn_relu_pool_forward(x.f(), y.f(), am.as<uint8_t>(), kN, kH, kW, kC, p, b.work.as<double>(), s);
  });
}

void BM_BnReluPoolBackwardUnfused(benchmark::State& st) {
  BnState b;
  Buf x(kAct * 4), relu_out(kAct * 4), dyp(kPooled * 4), am(kPooled, false), t1(kAct * 4, false),
      t2(kAct * 4, false), dx(kAct * 4, false);
  KN_CUDA_CHECK(cudaMemset(am.p, 0, am.bytes));
  KN_CUDA_CHECK(cudaDeviceSynchronize());  // the compute stream does not wait for the default one
  timed(st, 12.0 * kAct + 9.0 * kPooled, 0, [&](cudaStream_t s) {
    cuda::maxpool2_backward(dyp.f(), am.as<uint8_t>(), t1.f(), kN, kH, kW, kC, s);
    cuda::relu_backward(relu_out.f(), t1.f(), t2.f(), kAct, s);
    cuda::batchnorm_backward_train(x.f(), t2.f(), dx.f(), kN * kH * kW, kC, b.gamma.f(), b.sm.f(), b.si.f(), b.dg.f(),
                                   b.db.f(), b.work.as<double>(), s);
  });
}

void BM_BnReluPoolBackwardFused(benchmark::State& st) {
  BnState b;
  Buf x(kAct * 4), yp(kPooled * 4), dyp(kPooled * 4), am(kPooled, false), dx(kAct * 4, false);
  KN_CUDA_CHECK(cudaMemset(am.p, 0, am.bytes));
  KN_CUDA_CHECK(cudaDeviceSynchronize());  // the compute stream does not wait for the default one
  timed(st, 12.0 * kAct + 9.0 * kPooled, 0, [&](cudaStream_t s) {
    cuda::bn_relu_pool_backward(x.f(), yp.f(), am.as<uint8_t>(), dyp.f(), dx.f(), kN, kH, kW, kC, b.gamma.f(),
                                b.sm.f(), b.si.f(), b.dg.f(), b.db.f(), b.work.as<double>(), s);
  });
}

void BM_DropoutForward(benchmark::State& st) {
  const int64_t n = kN * 128;
  Buf x(n * 4), y(n * 4, false);
  timed(st, 8.0 * n, 0, [&](cudaStream_t s) { cuda::dropout_forward(x.f(), y.f(), n, 0.5, 42, 7, s); });
}

void BM_AdamStep(benchmark::State& st) {
  Buf p(kParams * 4), g(kParams * 4), m(kParams * 4), v(kParams * 4);
  KN_CUDA_CHECK(cudaMemset(v.p, 0, v.bytes));
  KN_CUDA_CHECK(cudaDeviceSynchronize());  // the compute stream does not wait for the default one
  timed(st, 28.0 * kParams, 0, [&](cudaStream_t s) {
    cuda::adam_step(p.f(), g.f(), m.f(), v.f(), kParams, 1e-3, 0.9, 0.999, 1e-7, s);
  });
}

// The dense layer's forward product (128, 25088) x (25088, 128): ours (split-K) and cuBLAS.
constexpr int64_t kDenseIn = 14 * 14 * 128, kDenseOut = 128;

void BM_SgemmDenseForwardOurs(benchmark::State& st) {
  Buf x(kN * kDenseIn * 4), w(kDenseIn * kDenseOut * 4), y(kN * kDenseOut * 4, false);
  const int64_t wsf = cuda::sgemm_workspace(kN, kDenseOut, kDenseIn);
  Buf ws(static_cast<size_t>(std::max<int64_t>(wsf, 1)) * 4, false);
  timed(st, 0, 2.0 * kN * kDenseIn * kDenseOut, [&](cudaStream_t s) {
    cuda::sgemm(false, false, kN, kDenseOut, kDenseIn, 1.0f, x.f(), kDenseIn, w.f(), kDenseOut, 0.0f, y.f(), kDenseOut,
                nullptr, ws.f(), wsf, s);
  });
}

void BM_SgemmDenseWeightGradOurs(benchmark::State& st) {
  Buf x(kN * kDenseIn * 4), dy(kN * kDenseOut * 4), dw(kDenseIn * kDenseOut * 4, false);
  timed(st, 0, 2.0 * kN * kDenseIn * kDenseOut, [&](cudaStream_t s) {
    cuda::sgemm(true, false, kDenseIn, kDenseOut, kN, 1.0f, x.f(), kDenseIn, dy.f(), kDenseOut, 0.0f, dw.f(),
                kDenseOut, nullptr, nullptr, 0, s);
  });
}

// cuBLAS is column-major: row-major C = A B is column-major C^T = B^T A^T.
void cublas_rowmajor(cublasHandle_t h, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                     const float* b, int64_t ldb, float* c, int64_t ldc) {
  const float one = 1.0f, zero = 0.0f;
  const cublasStatus_t st =
      cublasSgemm(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
                  static_cast<int>(m), static_cast<int>(k), &one, b, static_cast<int>(ldb), a, static_cast<int>(lda),
                  &zero, c, static_cast<int>(ldc));
  KN_CHECK(st == CUBLAS_STATUS_SUCCESS, "cublasSgemm failed with status ", static_cast<int>(st));
}

template <bool TF32>
void BM_SgemmDenseForwardCublas(benchmark::State& st) {
  cublasHandle_t h;
  KN_CHECK(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS, "cublasCreate failed");
  KN_CHECK(cublasSetMathMode(h, TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH) == CUBLAS_STATUS_SUCCESS,
           "cublasSetMathMode failed");
  KN_CHECK(cublasSetStream(h, CudaContext::get().compute()) == CUBLAS_STATUS_SUCCESS, "cublasSetStream failed");
  Buf x(kN * kDenseIn * 4), w(kDenseIn * kDenseOut * 4), y(kN * kDenseOut * 4, false);
  timed(st, 0, 2.0 * kN * kDenseIn * kDenseOut, [&](cudaStream_t) {
    cublas_rowmajor(h, false, false, kN, kDenseOut, kDenseIn, x.f(), kDenseIn, w.f(), kDenseOut, y.f(), kDenseOut);
  });
  cublasDestroy(h);
}

// The seed model's convolutions at batch kN: conv_1 (128, 128, 128, 3) -> 64 filters, 3x3,
// valid; conv_2 (128, 63, 63, 64) -> 96, same; conv_3 (128, 31, 31, 96) -> 128, valid. All three
// are timed, because the strict-fp32 cuDNN step was 23x slower than the TF32 one on an H100
// while conv_2 alone was only 5x slower (docs/cuda_backend.md, "First GPU run").
template <int L>
cuda::ConvDims seed_conv() {
  static_assert(L >= 1 && L <= 3, "the seed model has three convolutions");
  if constexpr (L == 1) return cuda::ConvDims::make(kN, 128, 128, 3, 3, 64, false);
  if constexpr (L == 2) return cuda::ConvDims::make(kN, 63, 63, 64, 3, 96, true);
  return cuda::ConvDims::make(kN, 31, 31, 96, 3, 128, false);
}

template <int L>
void BM_ConvForwardImplicitGemm(benchmark::State& st) {
  const auto d = seed_conv<L>();
  Buf x(d.n * d.h * d.w * d.c * 4), w(d.f * d.patch() * 4), b(d.f * 4), y(d.n * d.oh * d.ow * d.f * 4, false);
  timed(st, 0, d.flops_forward(), [&](cudaStream_t s) { cuda::conv_igemm_forward(x.f(), w.f(), b.f(), y.f(), d, s); });
}

// The direct convolution (conv_direct.h) on conv_1, the seed's only layer it takes. Bytes: the
// input read and the output written once (the output alone is 520 MB at batch 128), so its
// % of copy says how close it comes to the memory floor.
void BM_Conv1ForwardDirect(benchmark::State& st) {
  const auto d = seed_conv<1>();
  Buf x(d.n * d.h * d.w * d.c * 4), w(d.f * d.patch() * 4), b(d.f * 4), y(d.n * d.oh * d.ow * d.f * 4, false);
  const double bytes = 4.0 * static_cast<double>(d.n * d.h * d.w * d.c + d.n * d.oh * d.ow * d.f);
  timed(st, bytes, d.flops_forward(), [&](cudaStream_t s) { cuda::conv_direct_forward(x.f(), w.f(), b.f(), y.f(), d, s); });
}

// conv_1's weight and bias gradients, the direction the third GPU run's timing gave the implicit
// GEMM's 64x32 tile (1.00 ms on an H100, strict fp32, batch 128), against the direct kernel
// (conv_direct.h). Bytes: dy read once and x once, the direct kernel's floor (dy is 520 MB at
// batch 128; the GEMM reads it twice, once for the bias).
template <cuda::gemm::TileKind T>
void BM_Conv1BackwardFilter(benchmark::State& st) {
  const auto d = seed_conv<1>();
  Buf x(d.n * d.h * d.w * d.c * 4), dy(d.n * d.oh * d.ow * d.f * 4), dw(d.f * d.patch() * 4, false),
      db(d.f * 4, false);
  const size_t wsb = cuda::conv_igemm_workspace_bytes(d);
  Buf ws(std::max<size_t>(wsb, 1), false);
  const double bytes = 4.0 * static_cast<double>(d.n * d.h * d.w * d.c + d.n * d.oh * d.ow * d.f);
  timed(st, bytes, d.flops_forward(), [&](cudaStream_t s) {
    cuda::conv_igemm_backward_filter(x.f(), dy.f(), dw.f(), db.f(), d, ws.p, wsb, s, T);
  });
}

template <int L>
void BM_ConvBackwardImplicitGemm(benchmark::State& st) {
  const auto d = seed_conv<L>();
  Buf x(d.n * d.h * d.w * d.c * 4), w(d.f * d.patch() * 4), dy(d.n * d.oh * d.ow * d.f * 4), dx(d.n * d.h * d.w * d.c * 4),
      dw(d.f * d.patch() * 4), db(d.f * 4);
  const size_t wsb = cuda::conv_igemm_workspace_bytes(d);
  Buf ws(std::max<size_t>(wsb, 1), false);
  timed(st, 0, 2.0 * d.flops_forward(), [&](cudaStream_t s) {
    cuda::conv_igemm_backward(x.f(), w.f(), dy.f(), dx.f(), dw.f(), db.f(), d, ws.p, wsb, s);
  });
}

template <int L, cuda::ConvMath MATH>
void BM_ConvForwardCudnn(benchmark::State& st) {
  const auto d = seed_conv<L>();
  cuda::CudnnConv conv(CudaContext::get().cudnn(), d, MATH, size_t{1} << 30);
  st.SetLabel(conv.describe());
  Buf x(d.n * d.h * d.w * d.c * 4), w(d.f * d.patch() * 4), b(d.f * 4), y(d.n * d.oh * d.ow * d.f * 4, false);
  Buf ws(std::max<size_t>(conv.workspace_bytes(), 1), false);
  timed(st, 0, d.flops_forward(), [&](cudaStream_t s) {
    conv.forward(x.f(), w.f(), b.f(), y.f(), d.n, ws.p, conv.workspace_bytes(), s);
  });
}

template <int L, cuda::ConvMath MATH>
void BM_ConvBackwardCudnn(benchmark::State& st) {
  const auto d = seed_conv<L>();
  cuda::CudnnConv conv(CudaContext::get().cudnn(), d, MATH, size_t{1} << 30);
  st.SetLabel(conv.describe());
  Buf x(d.n * d.h * d.w * d.c * 4), w(d.f * d.patch() * 4), dy(d.n * d.oh * d.ow * d.f * 4), dx(d.n * d.h * d.w * d.c * 4),
      dw(d.f * d.patch() * 4), db(d.f * 4);
  Buf ws(std::max<size_t>(conv.workspace_bytes(), 1), false);
  timed(st, 0, 2.0 * d.flops_forward(), [&](cudaStream_t s) {
    conv.backward(x.f(), w.f(), dy.f(), dx.f(), dw.f(), db.f(), d.n, ws.p, conv.workspace_bytes(), s);
  });
}

// A throw (a CUDA or cuDNN error) skips its benchmark instead of ending the program.
template <void (*F)(benchmark::State&)>
void guarded(benchmark::State& state) {
  knotnet::bench::skip_on_error(state, [&] { F(state); });
}
#define KN_BENCH(fn) \
  BENCHMARK(guarded<fn>)->Name(#fn)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(0.2)
KN_BENCH(BM_Copy);
KN_BENCH(BM_U8ToUnit);
KN_BENCH(BM_ReluForward);
KN_BENCH(BM_ReluBackward);
KN_BENCH(BM_MaxPoolForward);
KN_BENCH(BM_MaxPoolBackward);
KN_BENCH(BM_AvgPoolForwardInput);
KN_BENCH(BM_AvgPoolBackward);
KN_BENCH(BM_BatchNormForwardTrain);
KN_BENCH(BM_BatchNormBackwardTrain);
KN_BENCH(BM_BnReluPoolForwardUnfused);
KN_BENCH(BM_BnReluPoolForwardFused);
KN_BENCH(BM_BnReluPoolBackwardUnfused);
KN_BENCH(BM_BnReluPoolBackwardFused);
KN_BENCH(BM_DropoutForward);
KN_BENCH(BM_AdamStep);
KN_BENCH(BM_SgemmDenseForwardOurs);
KN_BENCH(BM_SgemmDenseForwardCublas<false>)->Name("BM_SgemmDenseForwardCublasFp32");
KN_BENCH(BM_SgemmDenseForwardCublas<true>)->Name("BM_SgemmDenseForwardCublasTf32");
KN_BENCH(BM_SgemmDenseWeightGradOurs);
#define KN_BENCH_SEED_CONV(L)                                                                                   \
  KN_BENCH(BM_ConvForwardImplicitGemm<L>)->Name("BM_Conv" #L "ForwardImplicitGemm");                            \
  KN_BENCH((BM_ConvForwardCudnn<L, cuda::ConvMath::fp32>))->Name("BM_Conv" #L "ForwardCudnnFp32");             \
  KN_BENCH((BM_ConvForwardCudnn<L, cuda::ConvMath::tf32>))->Name("BM_Conv" #L "ForwardCudnnTf32");             \
  KN_BENCH(BM_ConvBackwardImplicitGemm<L>)->Name("BM_Conv" #L "BackwardImplicitGemm");                          \
  KN_BENCH((BM_ConvBackwardCudnn<L, cuda::ConvMath::fp32>))->Name("BM_Conv" #L "BackwardCudnnFp32");           \
  KN_BENCH((BM_ConvBackwardCudnn<L, cuda::ConvMath::tf32>))->Name("BM_Conv" #L "BackwardCudnnTf32")
KN_BENCH_SEED_CONV(1);
KN_BENCH(BM_Conv1ForwardDirect);
KN_BENCH(BM_Conv1BackwardFilter<cuda::gemm::TileKind::narrow>)->Name("BM_Conv1BackwardFilterImplicitGemm64x32");
KN_BENCH(BM_Conv1BackwardFilter<cuda::gemm::TileKind::direct>)->Name("BM_Conv1BackwardFilterDirect");
KN_BENCH_SEED_CONV(2);
KN_BENCH_SEED_CONV(3);

}  // namespace

#endif

int main(int argc, char** argv) { return knotnet::bench::run_cuda_benchmarks("bench_cuda_kernels", argc, argv); }
