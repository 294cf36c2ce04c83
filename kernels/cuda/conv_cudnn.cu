// cuDNN convolution: descriptors, algorithm choice at build time, and the three directions.
// Non-obvious choice: algorithms come from cuDNN's heuristics (cudnnGet*_v7), not from timing
// runs (cudnnFind*), because the choice is made while the memory plan is still being drawn up,
// before any buffer exists to time on; among the ranked candidates that fit the workspace
// limit (and, for strict fp32, use FMA math only) a deterministic one is preferred, so a
// seeded run repeats exactly. The bias gradient uses our own deterministic column sums.
#include "kernels/cuda/conv_cudnn.h"

#include <algorithm>
#include <sstream>
#include <vector>

#include "engine/cuda_check.h"
#include "kernels/cuda/reduce.h"

namespace knotnet::cuda {

namespace {

template <class Perf>
const Perf* pick(const std::vector<Perf>& perfs, int count, ConvMath math, size_t limit, bool prefer_deterministic) {
  for (bool need_deterministic : {prefer_deterministic, false})
    for (int i = 0; i < count; ++i) {
      const Perf& p = perfs[static_cast<size_t>(i)];
      if (p.status != CUDNN_STATUS_SUCCESS || p.memory > limit) continue;
      if (math == ConvMath::fp32 && p.mathType != CUDNN_FMA_MATH) continue;
      if (need_deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
      return &p;
    }
  return nullptr;
}

// Throws NoCudnnAlgorithm (which fit answers with the implicit GEMM) unless ok.
template <class... Args>
void require_algorithm(bool ok, int line, const Args&... what) {
  if (!ok) throw NoCudnnAlgorithm(detail::concat(what...), __FILE__, line);
}

const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH: return "default";
    case CUDNN_TENSOR_OP_MATH: return "tensor-op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "tensor-op-conv";
    case CUDNN_FMA_MATH: return "fma";
    default: return "?";
  }
}

std::string shape_text(const ConvDims& d) {
  std::ostringstream os;
  os << "conv of (" << d.n << ", " << d.h << ", " << d.w << ", " << d.c << ") with " << d.f << " filters of " << d.k
     << "x" << d.k;
  return os.str();
}

}  // namespace

CudnnConv::CudnnConv(cudnnHandle_t handle, const ConvDims& d, ConvMath math, size_t workspace_limit,
                     bool need_data_grad, bool prefer_deterministic)
    : handle_(handle), dims_(d), need_data_grad_(need_data_grad), prefer_deterministic_(prefer_deterministic) {
  // Descriptors made before a refusal (no algorithm within the limit) are destroyed with it.
  try {
    build(math, workspace_limit);
  } catch (...) {
    destroy();
    throw;
  }
}

void CudnnConv::build(ConvMath math, size_t workspace_limit) {
  const ConvDims& d = dims_;
  KN_CHECK(supported(d), shape_text(d), ": cuDNN's convolution API cannot express its asymmetric 'same' padding; "
           "use the implicit-GEMM convolution for this layer");
  KN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_desc_));
  KN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_desc_));
  KN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bias_desc_));
  KN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_desc_));
  KN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&fwd_desc_));
  KN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&bwd_data_desc_));
  KN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&bwd_filter_desc_));

  KN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias_desc_, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1,
                                            static_cast<int>(d.f), 1, 1));
  KN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_desc_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, static_cast<int>(d.f),
                                            static_cast<int>(d.c), static_cast<int>(d.k), static_cast<int>(d.k)));
  const cudnnMathType_t wanted = math == ConvMath::fp32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
  for (cudnnConvolutionDescriptor_t cd : {fwd_desc_, bwd_data_desc_, bwd_filter_desc_}) {
    KN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(cd, static_cast<int>(d.pad_top), static_cast<int>(d.pad_left), 1,
                                                   1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    KN_CUDNN_CHECK(cudnnSetConvolutionMathType(cd, wanted));
  }
  set_batch(d.n);

  int max_count = 0;
  int count = 0;
  KN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle_, &max_count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> fwd(static_cast<size_t>(std::max(max_count, 1)));
  KN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle_, x_desc_, w_desc_, fwd_desc_, y_desc_, max_count,
                                                        &count, fwd.data()));
  const auto* f = pick(fwd, count, math, workspace_limit, prefer_deterministic_);
  require_algorithm(f != nullptr, __LINE__, shape_text(d), ": cuDNN offers no forward algorithm within a workspace of ",
                    workspace_limit, " bytes");
  fwd_algo_ = f->algo, fwd_math_ = f->mathType, fwd_ws_ = f->memory;
  KN_CUDNN_CHECK(cudnnSetConvolutionMathType(fwd_desc_, fwd_math_));

  KN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle_, &max_count));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> bf(static_cast<size_t>(std::max(max_count, 1)));
  KN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle_, x_desc_, y_desc_, bwd_filter_desc_, w_desc_,
                                                               max_count, &count, bf.data()));
  const auto* pf = pick(bf, count, math, workspace_limit, prefer_deterministic_);
  require_algorithm(pf != nullptr, __LINE__, shape_text(d),
                    ": cuDNN offers no weight-gradient algorithm within a workspace of ", workspace_limit, " bytes");
  bwd_filter_algo_ = pf->algo, bwd_filter_math_ = pf->mathType, bwd_filter_ws_ = pf->memory;
  KN_CUDNN_CHECK(cudnnSetConvolutionMathType(bwd_filter_desc_, bwd_filter_math_));

  if (need_data_grad_) {
    KN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle_, &max_count));
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> bd(static_cast<size_t>(std::max(max_count, 1)));
    KN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle_, w_desc_, y_desc_, bwd_data_desc_, x_desc_,
                                                               max_count, &count, bd.data()));
    const auto* pd = pick(bd, count, math, workspace_limit, prefer_deterministic_);
    require_algorithm(pd != nullptr, __LINE__, shape_text(d),
                      ": cuDNN offers no data-gradient algorithm within a workspace of ", workspace_limit, " bytes");
    bwd_data_algo_ = pd->algo, bwd_data_math_ = pd->mathType, bwd_data_ws_ = pd->memory;
    KN_CUDNN_CHECK(cudnnSetConvolutionMathType(bwd_data_desc_, bwd_data_math_));
  }
  // The algorithms are chosen at the planned batch, but a smaller one (an epoch's partial last
  // batch) may need more workspace for the same algorithm. The plan reserves the most that any
  // batch size up to the planned one needs, so no batch finds too little in the middle of
  // training; when that is over the limit the layer is refused here, before training, as a
  // shape without an algorithm under the limit is.
  size_t algorithms_ws = std::max({fwd_ws_, bwd_filter_ws_, bwd_data_ws_});
  for (int64_t n = 1; n < d.n; ++n) {
    set_batch(n);
    algorithms_ws = std::max(algorithms_ws, need_at_current_batch(true, need_data_grad_, true));
  }
  set_batch(d.n);
  require_algorithm(algorithms_ws <= workspace_limit, __LINE__, shape_text(d), ": at a batch smaller than ", d.n,
                    ", the chosen algorithms need ", algorithms_ws, " bytes of workspace, more than the ",
                    workspace_limit, " allowed");
  const size_t bias_ws = static_cast<size_t>(column_sums_workspace(d.n * d.oh * d.ow, d.f)) * sizeof(double);
  workspace_ = std::max(algorithms_ws, bias_ws);
}

CudnnConv::~CudnnConv() { destroy(); }

void CudnnConv::destroy() noexcept {
  // Statuses are ignored: this runs in the destructor and while a constructor throws.
  if (fwd_desc_) cudnnDestroyConvolutionDescriptor(fwd_desc_);
  if (bwd_data_desc_) cudnnDestroyConvolutionDescriptor(bwd_data_desc_);
  if (bwd_filter_desc_) cudnnDestroyConvolutionDescriptor(bwd_filter_desc_);
  if (w_desc_) cudnnDestroyFilterDescriptor(w_desc_);
  if (bias_desc_) cudnnDestroyTensorDescriptor(bias_desc_);
  if (y_desc_) cudnnDestroyTensorDescriptor(y_desc_);
  if (x_desc_) cudnnDestroyTensorDescriptor(x_desc_);
}

void CudnnConv::set_batch(int64_t n) {
  if (n == cur_n_) return;
  KN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_desc_, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, static_cast<int>(n),
                                            static_cast<int>(dims_.c), static_cast<int>(dims_.h),
                                            static_cast<int>(dims_.w)));
  KN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_desc_, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, static_cast<int>(n),
                                            static_cast<int>(dims_.f), static_cast<int>(dims_.oh),
                                            static_cast<int>(dims_.ow)));
  cur_n_ = n;
}

size_t CudnnConv::need_at_current_batch(bool fwd, bool data, bool filter) const {
  size_t need = 0, s = 0;
  if (fwd) {
    KN_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle_, x_desc_, w_desc_, fwd_desc_, y_desc_, fwd_algo_, &s));
    need = std::max(need, s);
  }
  if (data) {
    KN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(handle_, w_desc_, y_desc_, bwd_data_desc_, x_desc_,
                                                                bwd_data_algo_, &s));
    need = std::max(need, s);
  }
  if (filter) {
    KN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(handle_, x_desc_, y_desc_, bwd_filter_desc_, w_desc_,
                                                                  bwd_filter_algo_, &s));
    need = std::max(need, s);
  }
  return need;
}

std::string CudnnConv::describe() const {
  std::ostringstream os;
  os << "fwd algo " << static_cast<int>(fwd_algo_) << " (" << math_name(fwd_math_) << ", " << fwd_ws_ << " B), "
     << "bwd-filter algo " << static_cast<int>(bwd_filter_algo_) << " (" << math_name(bwd_filter_math_) << ", "
     << bwd_filter_ws_ << " B)";
  if (need_data_grad_)
    os << ", bwd-data algo " << static_cast<int>(bwd_data_algo_) << " (" << math_name(bwd_data_math_) << ", "
       << bwd_data_ws_ << " B)";
  return os.str();
}

void CudnnConv::forward(const float* x, const float* w, const float* b, float* y, int64_t n, void* work,
                        size_t work_bytes, cudaStream_t stream) {
  if (n <= 0) return;
  KN_CHECK(n <= dims_.n, shape_text(dims_), ": a batch of ", n, " exceeds the planned ", dims_.n);
  set_batch(n);
  // The need at this batch is asked once per batch size and direction (forward and backward
  // keep their own record: each may be the first call at a new batch size).
  if (fwd_need_n_ != n) {
    fwd_need_ = need_at_current_batch(true, false, false);
    fwd_need_n_ = n;
  }
  KN_CHECK(fwd_need_ <= work_bytes, shape_text(dims_), ": the forward algorithm needs more workspace at batch ", n,
           " than the ", work_bytes, " bytes given");
  KN_CUDNN_CHECK(cudnnSetStream(handle_, stream));
  const float one = 1.0f, zero = 0.0f;
  KN_CUDNN_CHECK(cudnnConvolutionForward(handle_, &one, x_desc_, x, w_desc_, w, fwd_desc_, fwd_algo_, work, work_bytes,
                                         &zero, y_desc_, y));
  KN_CUDNN_CHECK(cudnnAddTensor(handle_, &one, bias_desc_, b, &one, y_desc_, y));
}

void CudnnConv::backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int64_t n,
                         void* work, size_t work_bytes, cudaStream_t stream) {
  KN_CHECK(n <= dims_.n, shape_text(dims_), ": a batch of ", n, " exceeds the planned ", dims_.n);
  KN_CHECK(!dx || need_data_grad_, shape_text(dims_), ": planned without a data gradient, but dx was asked for");
  if (n <= 0) {
    KN_CUDA_CHECK(cudaMemsetAsync(dw, 0, static_cast<size_t>(dims_.f * dims_.patch()) * sizeof(float), stream));
    KN_CUDA_CHECK(cudaMemsetAsync(db, 0, static_cast<size_t>(dims_.f) * sizeof(float), stream));
    return;
  }
  set_batch(n);
  if (bwd_need_n_ != n || bwd_need_data_ != (dx != nullptr)) {
    bwd_need_ = need_at_current_batch(false, dx != nullptr, true);
    bwd_need_n_ = n;
    bwd_need_data_ = dx != nullptr;
  }
  KN_CHECK(bwd_need_ <= work_bytes, shape_text(dims_), ": the backward algorithms need more workspace at batch ", n,
           " than the ", work_bytes, " bytes given");
  const size_t bias_ws = static_cast<size_t>(column_sums_workspace(n * dims_.oh * dims_.ow, dims_.f)) * sizeof(double);
  KN_CHECK(bias_ws <= work_bytes, shape_text(dims_), ": the bias gradient needs ", bias_ws, " bytes of workspace, got ",
           work_bytes);
  column_sums(dy, db, n * dims_.oh * dims_.ow, dims_.f, static_cast<double*>(work), stream);
  KN_CUDNN_CHECK(cudnnSetStream(handle_, stream));
  const float one = 1.0f, zero = 0.0f;
  KN_CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle_, &one, x_desc_, x, y_desc_, dy, bwd_filter_desc_,
                                                bwd_filter_algo_, work, work_bytes, &zero, w_desc_, dw));
  if (dx)
    KN_CUDNN_CHECK(cudnnConvolutionBackwardData(handle_, &one, w_desc_, w, y_desc_, dy, bwd_data_desc_, bwd_data_algo_,
                                                work, work_bytes, &zero, x_desc_, dx));
}

}  // namespace knotnet::cuda
