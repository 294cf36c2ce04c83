// The CUDA emulator's stand-in cuDNN (include/cudnn.h): descriptors as plain structs, one
// algorithm per direction, and a direct convolution in double for NHWC float tensors and KRSC
// (NHWC-format) filters. beta == 0 never reads the output, as in cuDNN. Each call reads its
// descriptors and scalars when it is made and queues the arithmetic on the handle's stream
// (emu_streams.cpp), as cuDNN queues its kernels.
//
// cudnnFind*AlgorithmEx runs the one algorithm and reports its time on the emulator's virtual
// clock (emu_internal.h), which every call here advances by its multiplies / 1,024 when it runs
// (times KNOTNET_EMU_CUDNN_COST, below).
//
// Every algorithm needs no workspace, unless KNOTNET_EMU_CUDNN_WORKSPACE=<bytes> says otherwise:
// then each needs that much, which lets a test drive fit into the case where cuDNN offers no
// algorithm under the workspace limit the budget allows. KNOTNET_EMU_CUDNN_WORKSPACE_ODD=<bytes>
// sets the need at odd batch sizes instead, so that a smaller batch can need more than the
// planned one. Both are read at every call, so a test may set them for one model.
#include <cudnn.h>

#include "emu_internal.h"

#include <cstdlib>
#include <vector>

struct kn_emu_cudnn_handle {
  cudaStream_t stream = nullptr;
};
struct kn_emu_cudnn_tensor {
  int n = 0, c = 0, h = 0, w = 0;
  bool nhwc_float = false;
};
struct kn_emu_cudnn_filter {
  int k = 0, c = 0, r = 0, s = 0;
  bool krsc_float = false;
};
struct kn_emu_cudnn_conv {
  int pad_h = 0, pad_w = 0, u = 1, v = 1, dil_h = 1, dil_w = 1;
  bool cross_correlation = true;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

namespace {

// The geometry of one convolution call, checked against the descriptors.
struct Geometry {
  int n, h, w, c, k, r, s, oh, ow, pad_h, pad_w, u, v, dil_h, dil_w;
};

bool geometry(const kn_emu_cudnn_tensor* x, const kn_emu_cudnn_filter* f, const kn_emu_cudnn_conv* cd,
              const kn_emu_cudnn_tensor* y, Geometry& g) {
  if (!x || !f || !cd || !y || !x->nhwc_float || !y->nhwc_float || !f->krsc_float || !cd->cross_correlation)
    return false;
  g = Geometry{x->n, x->h, x->w, x->c, f->k, f->r, f->s, 0, 0, cd->pad_h, cd->pad_w, cd->u, cd->v, cd->dil_h, cd->dil_w};
  g.oh = (g.h + 2 * g.pad_h - g.dil_h * (g.r - 1) - 1) / g.u + 1;
  g.ow = (g.w + 2 * g.pad_w - g.dil_w * (g.s - 1) - 1) / g.v + 1;
  return f->c == x->c && y->n == x->n && y->c == f->k && y->h == g.oh && y->w == g.ow;
}

// Calls fn(x index, w index, y index) for every multiply of the convolution.
template <class Fn>
void for_each_product(const Geometry& g, Fn fn) {
  for (int b = 0; b < g.n; ++b)
    for (int oy = 0; oy < g.oh; ++oy)
      for (int ox = 0; ox < g.ow; ++ox)
        for (int kk = 0; kk < g.k; ++kk) {
          const size_t yi = ((static_cast<size_t>(b) * g.oh + oy) * g.ow + ox) * g.k + kk;
          for (int ry = 0; ry < g.r; ++ry) {
            const int iy = oy * g.u - g.pad_h + ry * g.dil_h;
            if (iy < 0 || iy >= g.h) continue;
            for (int sx = 0; sx < g.s; ++sx) {
              const int ix = ox * g.v - g.pad_w + sx * g.dil_w;
              if (ix < 0 || ix >= g.w) continue;
              const size_t xi = ((static_cast<size_t>(b) * g.h + iy) * g.w + ix) * g.c;
              const size_t wi = ((static_cast<size_t>(kk) * g.r + ry) * g.s + sx) * g.c;
              for (int cc = 0; cc < g.c; ++cc) fn(xi + cc, wi + cc, yi);
            }
          }
        }
}

double scalar(const void* p) { return *static_cast<const float*>(p); }

// out = a * acc + b * out, never reading out when b is 0.
void blend(float* out, const std::vector<double>& acc, double a, double b) {
  for (size_t i = 0; i < acc.size(); ++i)
    out[i] = static_cast<float>(b == 0.0 ? a * acc[i] : a * acc[i] + b * static_cast<double>(out[i]));
}

size_t env_bytes(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? static_cast<size_t>(std::strtoull(v, nullptr, 10)) : size_t{0};
}

// The workspace every algorithm needs at batch size n.
size_t workspace_need(int n) {
  if (n % 2 == 1 && std::getenv("KNOTNET_EMU_CUDNN_WORKSPACE_ODD")) return env_bytes("KNOTNET_EMU_CUDNN_WORKSPACE_ODD");
  return env_bytes("KNOTNET_EMU_CUDNN_WORKSPACE");
}

template <class Perf>
cudnnStatus_t one_algorithm(const kn_emu_cudnn_conv* cd, int n, int requested, int* returned, Perf* perf) {
  if (!cd || requested < 1 || !returned || !perf) return CUDNN_STATUS_BAD_PARAM;
  perf[0] = Perf{};
  perf[0].status = CUDNN_STATUS_SUCCESS;
  perf[0].memory = workspace_need(n);
  perf[0].determinism = CUDNN_DETERMINISTIC;
  perf[0].mathType = cd->math == CUDNN_DEFAULT_MATH ? CUDNN_FMA_MATH : cd->math;
  *returned = 1;
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace

const char* cudnnGetErrorString(cudnnStatus_t s) {
  switch (s) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM (CUDA emulator)";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED (CUDA emulator)";
  }
  return "unknown cuDNN status (CUDA emulator)";
}

size_t cudnnGetVersion() { return 0; }

cudnnStatus_t cudnnCreate(cudnnHandle_t* h) {
  *h = new kn_emu_cudnn_handle;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t h) {
  delete h;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s) {
  if (!h) return CUDNN_STATUS_BAD_PARAM;
  h->stream = s;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) {
  *d = new kn_emu_cudnn_tensor;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format, cudnnDataType_t type,
                                         int n, int c, int h, int w) {
  if (!d || n < 1 || c < 1 || h < 1 || w < 1) return CUDNN_STATUS_BAD_PARAM;
  *d = kn_emu_cudnn_tensor{n, c, h, w, format == CUDNN_TENSOR_NHWC && type == CUDNN_DATA_FLOAT};
  return d->nhwc_float ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_NOT_SUPPORTED;
}
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) {
  *d = new kn_emu_cudnn_filter;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type, cudnnTensorFormat_t format,
                                         int k, int c, int h, int w) {
  if (!d || k < 1 || c < 1 || h < 1 || w < 1) return CUDNN_STATUS_BAD_PARAM;
  *d = kn_emu_cudnn_filter{k, c, h, w, format == CUDNN_TENSOR_NHWC && type == CUDNN_DATA_FLOAT};
  return d->krsc_float ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_NOT_SUPPORTED;
}
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) {
  *d = new kn_emu_cudnn_conv;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v,
                                              int dilation_h, int dilation_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t compute_type) {
  if (!d || pad_h < 0 || pad_w < 0 || u < 1 || v < 1 || dilation_h < 1 || dilation_w < 1) return CUDNN_STATUS_BAD_PARAM;
  if (compute_type != CUDNN_DATA_FLOAT) return CUDNN_STATUS_NOT_SUPPORTED;
  const cudnnMathType_t math = d->math;
  *d = kn_emu_cudnn_conv{pad_h, pad_w, u, v, dilation_h, dilation_w, mode == CUDNN_CROSS_CORRELATION, math};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t math) {
  if (!d) return CUDNN_STATUS_BAD_PARAM;
  d->math = math;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionForwardAlgorithmMaxCount(cudnnHandle_t, int* count) {
  *count = 1;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithmMaxCount(cudnnHandle_t, int* count) {
  *count = 1;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(cudnnHandle_t, int* count) {
  *count = 1;
  return CUDNN_STATUS_SUCCESS;
}
// The batch size is the input descriptor's (x, or dx for the data gradient); descriptors are
// checked for null, as cuDNN checks them.
cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t, cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t,
                                                     cudnnConvolutionDescriptor_t conv, cudnnTensorDescriptor_t,
                                                     int requested, int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
  return x ? one_algorithm(conv, x->n, requested, returned, perf) : CUDNN_STATUS_BAD_PARAM;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t, cudnnFilterDescriptor_t,
                                                          cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t conv,
                                                          cudnnTensorDescriptor_t dx, int requested, int* returned,
                                                          cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  return dx ? one_algorithm(conv, dx->n, requested, returned, perf) : CUDNN_STATUS_BAD_PARAM;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t, cudnnTensorDescriptor_t x,
                                                            cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t conv,
                                                            cudnnFilterDescriptor_t, int requested, int* returned,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
  return x ? one_algorithm(conv, x->n, requested, returned, perf) : CUDNN_STATUS_BAD_PARAM;
}
cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t, cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t,
                                                      cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t,
                                                      cudnnConvolutionFwdAlgo_t, size_t* bytes) {
  if (!x) return CUDNN_STATUS_BAD_PARAM;
  *bytes = workspace_need(x->n);
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t, cudnnFilterDescriptor_t,
                                                           cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,
                                                           cudnnTensorDescriptor_t dx, cudnnConvolutionBwdDataAlgo_t,
                                                           size_t* bytes) {
  if (!dx) return CUDNN_STATUS_BAD_PARAM;
  *bytes = workspace_need(dx->n);
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t, cudnnTensorDescriptor_t x,
                                                             cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,
                                                             cudnnFilterDescriptor_t, cudnnConvolutionBwdFilterAlgo_t,
                                                             size_t* bytes) {
  if (!x) return CUDNN_STATUS_BAD_PARAM;
  *bytes = workspace_need(x->n);
  return CUDNN_STATUS_SUCCESS;
}

namespace {

// The multiplies a convolution costs on the virtual clock (padding included): the same for
// every direction, as each direction is one product of the same three sizes.
uint64_t product_count(const Geometry& g) {
  return 1ull * g.n * g.oh * g.ow * g.k * g.r * g.s * g.c;
}

// KNOTNET_EMU_CUDNN_COST=<ns> (default 1) sets what 1,024 multiplies cost, so that a test can make
// the stand-in slower than the implicit GEMM's kernels and so see timing route a direction away.
uint64_t virtual_ns(const Geometry& g) {
  const size_t cost = env_bytes("KNOTNET_EMU_CUDNN_COST");
  return product_count(g) / 1024 * (cost ? cost : 1) + 1;
}

// Queues, on the handle's stream, out = alpha * sum + beta * out over `count` elements, where
// term(acc, xi, wi, yi) adds each multiply of the convolution to the element it feeds.
template <class Term>
cudnnStatus_t queue_conv(cudnnHandle_t h, const Geometry& g, size_t count, void* out, const void* alpha,
                         const void* beta, Term term) {
  kn_emu::enqueue(h->stream, [g, count, term, o = static_cast<float*>(out), a = scalar(alpha), b = scalar(beta)] {
    kn_emu::advance_clock(virtual_ns(g));
    std::vector<double> acc(count, 0.0);
    for_each_product(g, [&](size_t xi, size_t wi, size_t yi) { term(acc, xi, wi, yi); });
    blend(o, acc, a, b);
  });
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t x_desc, const void* x,
                                      cudnnFilterDescriptor_t w_desc, const void* w,
                                      cudnnConvolutionDescriptor_t conv, cudnnConvolutionFwdAlgo_t, void*, size_t,
                                      const void* beta, cudnnTensorDescriptor_t y_desc, void* y) {
  Geometry g;
  if (!h || !geometry(x_desc, w_desc, conv, y_desc, g)) return CUDNN_STATUS_BAD_PARAM;
  return queue_conv(h, g, static_cast<size_t>(g.n) * g.oh * g.ow * g.k, y, alpha, beta,
                    [xf = static_cast<const float*>(x), wf = static_cast<const float*>(w)](
                        std::vector<double>& acc, size_t xi, size_t wi, size_t yi) {
                      acc[yi] += double(xf[xi]) * wf[wi];
                    });
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void* alpha, cudnnFilterDescriptor_t w_desc,
                                           const void* w, cudnnTensorDescriptor_t dy_desc, const void* dy,
                                           cudnnConvolutionDescriptor_t conv, cudnnConvolutionBwdDataAlgo_t, void*,
                                           size_t, const void* beta, cudnnTensorDescriptor_t dx_desc, void* dx) {
  Geometry g;
  if (!h || !geometry(dx_desc, w_desc, conv, dy_desc, g)) return CUDNN_STATUS_BAD_PARAM;
  return queue_conv(h, g, static_cast<size_t>(g.n) * g.h * g.w * g.c, dx, alpha, beta,
                    [dyf = static_cast<const float*>(dy), wf = static_cast<const float*>(w)](
                        std::vector<double>& acc, size_t xi, size_t wi, size_t yi) {
                      acc[xi] += double(dyf[yi]) * wf[wi];
                    });
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t x_desc,
                                             const void* x, cudnnTensorDescriptor_t dy_desc, const void* dy,
                                             cudnnConvolutionDescriptor_t conv, cudnnConvolutionBwdFilterAlgo_t, void*,
                                             size_t, const void* beta, cudnnFilterDescriptor_t dw_desc, void* dw) {
  Geometry g;
  if (!h || !geometry(x_desc, dw_desc, conv, dy_desc, g)) return CUDNN_STATUS_BAD_PARAM;
  return queue_conv(h, g, static_cast<size_t>(g.k) * g.r * g.s * g.c, dw, alpha, beta,
                    [xf = static_cast<const float*>(x), dyf = static_cast<const float*>(dy)](
                        std::vector<double>& acc, size_t xi, size_t wi, size_t yi) {
                      acc[wi] += double(xf[xi]) * dyf[yi];
                    });
}

cudnnStatus_t cudnnAddTensor(cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t a_desc, const void* a,
                             const void* beta, cudnnTensorDescriptor_t c_desc, void* c) {
  // Only the broadcast the engine uses: a bias of (1, C, 1, 1) over an NHWC (N, C, H, W) tensor.
  if (!h) return CUDNN_STATUS_BAD_PARAM;
  if (!a_desc || !c_desc || a_desc->n != 1 || a_desc->h != 1 || a_desc->w != 1 || a_desc->c != c_desc->c)
    return CUDNN_STATUS_NOT_SUPPORTED;
  const auto* af = static_cast<const float*>(a);
  auto* cf = static_cast<float*>(c);
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  const size_t rows = static_cast<size_t>(c_desc->n) * c_desc->h * c_desc->w;
  const auto channels = static_cast<size_t>(c_desc->c);
  kn_emu::enqueue(h->stream, [af, cf, al, be, rows, channels] {
    for (size_t r = 0; r < rows; ++r)
      for (size_t ch = 0; ch < channels; ++ch) {
        float& out = cf[r * channels + ch];
        out = be == 0.0f ? al * af[ch] : al * af[ch] + be * out;
      }
  });
  return CUDNN_STATUS_SUCCESS;
}

// cudnnFind*AlgorithmEx: the one algorithm, run on the caller's buffers (cuDNN's trial runs
// overwrite the output too) before the call returns, with its virtual time (emu_internal.h);
// when it needs more workspace than given, it is reported as not run, as cuDNN reports it.
namespace {

template <class Perf, class Run>
cudnnStatus_t find_one(cudnnHandle_t h, cudnnConvolutionDescriptor_t conv, const Geometry& g, int requested,
                       int* returned, Perf* perf, size_t work_bytes, Run run) {
  cudnnStatus_t s = one_algorithm(conv, g.n, requested, returned, perf);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  if (perf[0].memory > work_bytes) {
    perf[0].status = CUDNN_STATUS_NOT_SUPPORTED;
    perf[0].time = -1.0f;
    return CUDNN_STATUS_SUCCESS;
  }
  const float one = 1.0f, zero = 0.0f;
  s = run(&one, &zero);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  if (cudaStreamSynchronize(h->stream) != cudaSuccess) return CUDNN_STATUS_BAD_PARAM;
  perf[0].time = static_cast<float>(static_cast<double>(virtual_ns(g)) * 1e-6);
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace

cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(cudnnHandle_t h, cudnnTensorDescriptor_t x_desc, const void* x,
                                                     cudnnFilterDescriptor_t w_desc, const void* w,
                                                     cudnnConvolutionDescriptor_t conv, cudnnTensorDescriptor_t y_desc,
                                                     void* y, int requested, int* returned,
                                                     cudnnConvolutionFwdAlgoPerf_t* perf, void* work,
                                                     size_t work_bytes) {
  Geometry g;
  if (!h || !geometry(x_desc, w_desc, conv, y_desc, g)) return CUDNN_STATUS_BAD_PARAM;
  return find_one(h, conv, g, requested, returned, perf, work_bytes, [&](const float* one, const float* zero) {
    return cudnnConvolutionForward(h, one, x_desc, x, w_desc, w, conv, perf[0].algo, work, work_bytes, zero, y_desc,
                                   y);
  });
}

cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(cudnnHandle_t h, cudnnFilterDescriptor_t w_desc,
                                                          const void* w, cudnnTensorDescriptor_t dy_desc,
                                                          const void* dy, cudnnConvolutionDescriptor_t conv,
                                                          cudnnTensorDescriptor_t dx_desc, void* dx, int requested,
                                                          int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf,
                                                          void* work, size_t work_bytes) {
  Geometry g;
  if (!h || !geometry(dx_desc, w_desc, conv, dy_desc, g)) return CUDNN_STATUS_BAD_PARAM;
  return find_one(h, conv, g, requested, returned, perf, work_bytes, [&](const float* one, const float* zero) {
    return cudnnConvolutionBackwardData(h, one, w_desc, w, dy_desc, dy, conv, perf[0].algo, work, work_bytes, zero,
                                        dx_desc, dx);
  });
}

cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(cudnnHandle_t h, cudnnTensorDescriptor_t x_desc,
                                                            const void* x, cudnnTensorDescriptor_t dy_desc,
                                                            const void* dy, cudnnConvolutionDescriptor_t conv,
                                                            cudnnFilterDescriptor_t dw_desc, void* dw, int requested,
                                                            int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perf,
                                                            void* work, size_t work_bytes) {
  Geometry g;
  if (!h || !geometry(x_desc, dw_desc, conv, dy_desc, g)) return CUDNN_STATUS_BAD_PARAM;
  return find_one(h, conv, g, requested, returned, perf, work_bytes, [&](const float* one, const float* zero) {
    return cudnnConvolutionBackwardFilter(h, one, x_desc, x, dy_desc, dy, conv, perf[0].algo, work, work_bytes, zero,
                                          dw_desc, dw);
  });
}
