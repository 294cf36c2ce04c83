// cuDNN convolution: descriptors, algorithm choice, and the three directions.
// Non-obvious choice: the constructor takes cuDNN's heuristics (cudnnGet*_v7), because it runs
// while the memory plan is still being drawn up, before any buffer exists to time on; among the
// ranked candidates that fit the workspace limit (and, for strict fp32, use FMA math only) a
// deterministic one is preferred. Once the plan's buffers exist, the layer may time every
// algorithm (time_*, cudnnFind*Ex) and switch to the ones it measured fastest (use), per
// direction (engine/layers/conv_autotune.h). The bias gradient uses our own deterministic
// column sums.
#include "kernels/cuda/conv_cudnn.h"

#include <algorithm>
#include <sstream>
#include <vector>

#include "engine/conv_choice.h"
#include "engine/cuda_check.h"
#include "kernels/cuda/reduce.h"

namespace knotnet::cuda {

namespace {

bool allowed_math(ConvMath math, cudnnMathType_t m) { return math == ConvMath::tf32 || m == CUDNN_FMA_MATH; }

template <class Perf>
const Perf* pick(const std::vector<Perf>& perfs, ConvMath math, size_t limit, bool prefer_deterministic) {
  for (bool need_deterministic : {prefer_deterministic, false})
    for (const Perf& p : perfs) {
      if (p.status != CUDNN_STATUS_SUCCESS || p.memory > limit || !allowed_math(math, p.mathType)) continue;
      if (need_deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
      return &p;
    }
  return nullptr;
}

template <class Perf>
CudnnAlgo to_algo(const Perf& p, bool timed) {
  CudnnAlgo a;
  a.algo = static_cast<int>(p.algo);
  a.math = p.mathType;
  a.memory = p.memory;
  a.ms = timed ? p.time : -1.0f;
  a.deterministic = p.determinism == CUDNN_DETERMINISTIC;
  return a;
}

// The timed results cuDNN ran successfully within the workspace, under the math allowed,
// fastest first (cuDNN returns them sorted already; sorted again, stably, to rely on nothing).
template <class Perf>
std::vector<CudnnAlgo> timed(const std::vector<Perf>& perfs, ConvMath math, size_t work_bytes) {
  std::vector<CudnnAlgo> out;
  for (const Perf& p : perfs) {
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > work_bytes || p.time < 0 || !allowed_math(math, p.mathType))
      continue;
    out.push_back(to_algo(p, true));
  }
  std::stable_sort(out.begin(), out.end(), [](const CudnnAlgo& a, const CudnnAlgo& b) { return a.ms < b.ms; });
  return out;
}

// One ranking of a direction's algorithms: how many cuDNN may return (max_count_of), then the
// ranking itself (rank(max, &count, perfs): cudnnGet*_v7 or cudnnFind*Ex), cut to what it returned.
template <class Perf, class MaxCount, class Rank>
std::vector<Perf> ranked(cudnnHandle_t handle, MaxCount max_count_of, Rank rank) {
  int max_count = 0, count = 0;
  KN_CUDNN_CHECK(max_count_of(handle, &max_count));
  std::vector<Perf> perfs(static_cast<size_t>(std::max(max_count, 1)));
  KN_CUDNN_CHECK(rank(max_count, &count, perfs.data()));
  perfs.resize(static_cast<size_t>(std::clamp(count, 0, std::max(max_count, 1))));
  return perfs;
}

// Throws NoCudnnAlgorithm (which fit answers with the implicit GEMM) unless ok.
template <class... Args>
void require_algorithm(bool ok, int line, const Args&... what) {
  if (!ok) throw NoCudnnAlgorithm(detail::concat(what...), __FILE__, line);
}

std::string shape_text(const ConvDims& d) {
  std::ostringstream os;
  os << "conv of (" << d.n << ", " << d.h << ", " << d.w << ", " << d.c << ") with " << d.f << " filters of " << d.k
     << "x" << d.k;
  return os.str();
}

// The heuristics' algorithm for one direction (`what`: "forward", ...) among `perfs`, or the
// refusal naming the shape when none is allowed within the limit.
template <class Perf>
CudnnAlgo heuristic_choice(const std::vector<Perf>& perfs, ConvMath math, size_t limit, bool prefer_deterministic,
                           const ConvDims& d, const char* what) {
  const Perf* p = pick(perfs, math, limit, prefer_deterministic);
  require_algorithm(p != nullptr, __LINE__, shape_text(d), ": cuDNN offers no ", what,
                    " algorithm within a workspace of ", limit, " bytes");
  return to_algo(*p, false);
}

const char* direction_name(int dir) { return conv_direction_name(static_cast<ConvDirection>(dir)); }

}  // namespace

const char* cudnn_math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH: return "default";
    case CUDNN_TENSOR_OP_MATH: return "tensor-op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "tensor-op-conv";
    case CUDNN_FMA_MATH: return "fma";
    default: return "?";
  }
}

CudnnConv::CudnnConv(cudnnHandle_t handle, const ConvDims& d, ConvMath math, size_t workspace_limit,
                     bool need_data_grad, bool prefer_deterministic)
    : handle_(handle),
      dims_(d),
      math_(math),
      need_data_grad_(need_data_grad),
      prefer_deterministic_(prefer_deterministic) {
  in_use_[kData] = need_data_grad;
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
  for (auto& cd : desc_) KN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&cd));

  KN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias_desc_, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1,
                                            static_cast<int>(d.f), 1, 1));
  KN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_desc_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, static_cast<int>(d.f),
                                            static_cast<int>(d.c), static_cast<int>(d.k), static_cast<int>(d.k)));
  const cudnnMathType_t wanted = math == ConvMath::fp32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
  for (cudnnConvolutionDescriptor_t cd : desc_) {
    KN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(cd, static_cast<int>(d.pad_top), static_cast<int>(d.pad_left), 1,
                                                   1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    KN_CUDNN_CHECK(cudnnSetConvolutionMathType(cd, wanted));
  }
  set_batch(d.n);

  const auto fwd = ranked<cudnnConvolutionFwdAlgoPerf_t>(
      handle_, cudnnGetConvolutionForwardAlgorithmMaxCount, [&](int max, int* count, auto* perfs) {
        return cudnnGetConvolutionForwardAlgorithm_v7(handle_, x_desc_, w_desc_, desc_[kForward], y_desc_, max, count,
                                                      perfs);
      });
  algo_[kForward] = heuristic_choice(fwd, math, workspace_limit, prefer_deterministic_, d, "forward");

  const auto bf = ranked<cudnnConvolutionBwdFilterAlgoPerf_t>(
      handle_, cudnnGetConvolutionBackwardFilterAlgorithmMaxCount, [&](int max, int* count, auto* perfs) {
        return cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle_, x_desc_, y_desc_, desc_[kFilter], w_desc_, max,
                                                             count, perfs);
      });
  algo_[kFilter] = heuristic_choice(bf, math, workspace_limit, prefer_deterministic_, d, "weight-gradient");

  if (need_data_grad_) {
    const auto bd = ranked<cudnnConvolutionBwdDataAlgoPerf_t>(
        handle_, cudnnGetConvolutionBackwardDataAlgorithmMaxCount, [&](int max, int* count, auto* perfs) {
          return cudnnGetConvolutionBackwardDataAlgorithm_v7(handle_, w_desc_, y_desc_, desc_[kData], x_desc_, max,
                                                             count, perfs);
        });
    algo_[kData] = heuristic_choice(bd, math, workspace_limit, prefer_deterministic_, d, "data-gradient");
  }
  const size_t need = recompute_workspace();
  require_algorithm(need <= workspace_limit, __LINE__, shape_text(d), ": at a batch smaller than ", d.n,
                    ", the chosen algorithms need ", need, " bytes of workspace, more than the ", workspace_limit,
                    " allowed");
}

// Sets each direction's math to its algorithm's, forgets the needs asked before, and returns the
// most workspace the directions in use need at any batch up to the planned one, or the bias
// sums' need if larger. The algorithms are chosen at the planned batch, but a smaller one (an
// epoch's partial last batch) may need more workspace for the same algorithm: the plan reserves
// the most that any batch size needs, so no batch finds too little in the middle of training.
size_t CudnnConv::recompute_workspace() {
  set_chosen_math();
  for (int64_t& n : need_n_) n = -1;
  size_t most = 0;
  for (int64_t n = dims_.n; n >= 1; --n) {
    set_batch(n);
    for (int dir = 0; dir < 3; ++dir)
      if (in_use_[dir]) most = std::max(most, need(static_cast<Direction>(dir)));
  }
  set_batch(dims_.n);
  const size_t bias_ws = static_cast<size_t>(column_sums_workspace(dims_.n * dims_.oh * dims_.ow, dims_.f)) *
                         sizeof(double);
  workspace_ = std::max(most, bias_ws);
  return most;
}

size_t CudnnConv::use(const CudnnAlgo* fwd, const CudnnAlgo* filter, const CudnnAlgo* data) {
  KN_CHECK(!data || need_data_grad_, shape_text(dims_), ": planned without a data gradient, but given its algorithm");
  const CudnnAlgo* given[3] = {fwd, filter, data};
  bool changed = false;
  for (int dir = 0; dir < 3; ++dir) {
    const bool same = in_use_[dir] == (given[dir] != nullptr) &&
                      (!given[dir] || (given[dir]->algo == algo_[dir].algo && given[dir]->math == algo_[dir].math));
    changed = changed || !same;
    in_use_[dir] = given[dir] != nullptr;
    if (given[dir]) algo_[dir] = *given[dir];  // its timing too, for describe()
  }
  // The walk over every batch size costs ~0.2 s per convolution at batch 1024: skipped when the
  // heuristics' algorithms won (their needs were walked when they were chosen). The math types
  // are set back either way (timing changed them).
  if (changed)
    recompute_workspace();
  else
    set_chosen_math();
  return workspace_;
}

void CudnnConv::set_chosen_math() {
  for (int dir = 0; dir < 3; ++dir)
    if (in_use_[dir]) KN_CUDNN_CHECK(cudnnSetConvolutionMathType(desc_[dir], algo_[dir].math));
}

// Timing runs at the planned batch on `stream`. cudnnFind*Ex times only the algorithms of the
// math type set on the descriptor, which after recompute_workspace() is the chosen algorithm's:
// for timing, the math this convolution allows (tensor-op admits FMA algorithms too). use() or
// recompute_workspace() sets it back.
void CudnnConv::prepare_timing(Direction dir, cudaStream_t stream) {
  set_batch(dims_.n);
  KN_CUDNN_CHECK(cudnnSetStream(handle_, stream));
  KN_CUDNN_CHECK(cudnnSetConvolutionMathType(desc_[dir], math_ == ConvMath::fp32 ? CUDNN_FMA_MATH
                                                                                 : CUDNN_TENSOR_OP_MATH));
}

CudnnConv::~CudnnConv() { destroy(); }

void CudnnConv::destroy() noexcept {
  // Statuses are ignored: this runs in the destructor and while a constructor throws.
  for (auto cd : desc_)
    if (cd) cudnnDestroyConvolutionDescriptor(cd);
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

size_t CudnnConv::need(Direction dir) const {
  size_t s = 0;
  switch (dir) {
    case kForward:
      KN_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(
          handle_, x_desc_, w_desc_, desc_[kForward], y_desc_,
          static_cast<cudnnConvolutionFwdAlgo_t>(algo_[kForward].algo), &s));
      break;
    case kFilter:
      KN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
          handle_, x_desc_, y_desc_, desc_[kFilter], w_desc_,
          static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo_[kFilter].algo), &s));
      break;
    case kData:
      KN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
          handle_, w_desc_, y_desc_, desc_[kData], x_desc_,
          static_cast<cudnnConvolutionBwdDataAlgo_t>(algo_[kData].algo), &s));
      break;
  }
  return s;
}

void CudnnConv::require_workspace(Direction dir, int64_t n, size_t work_bytes) {
  KN_CHECK(in_use_[dir], shape_text(dims_), ": the ", direction_name(dir), " direction was not set to run on cuDNN");
  KN_CHECK(n <= dims_.n, shape_text(dims_), ": a batch of ", n, " exceeds the planned ", dims_.n);
  set_batch(n);
  // Asked once per batch size and direction.
  if (need_n_[dir] != n) {
    need_[dir] = need(dir);
    need_n_[dir] = n;
  }
  KN_CHECK(need_[dir] <= work_bytes, shape_text(dims_), ": the ", direction_name(dir),
           " algorithm needs more workspace at batch ", n, " than the ", work_bytes, " bytes given");
}

std::string CudnnConv::describe() const {
  std::ostringstream os;
  const char* sep = "";
  for (int dir = 0; dir < 3; ++dir) {
    if (!in_use_[dir]) continue;
    os << sep << direction_name(dir) << " algo " << algo_[dir].algo << " (" << cudnn_math_name(algo_[dir].math) << ", "
       << algo_[dir].memory << " B";
    if (!algo_[dir].deterministic) os << ", non-deterministic";
    if (algo_[dir].ms >= 0) os << ", " << algo_[dir].ms << " ms";
    os << ")";
    sep = ", ";
  }
  return os.str();
}

std::vector<CudnnAlgo> CudnnConv::time_forward(const float* x, const float* w, float* y, void* work,
                                               size_t work_bytes, cudaStream_t stream) {
  prepare_timing(kForward, stream);
  const auto perfs = ranked<cudnnConvolutionFwdAlgoPerf_t>(
      handle_, cudnnGetConvolutionForwardAlgorithmMaxCount, [&](int max, int* count, auto* out) {
        return cudnnFindConvolutionForwardAlgorithmEx(handle_, x_desc_, x, w_desc_, w, desc_[kForward], y_desc_, y,
                                                      max, count, out, work, work_bytes);
      });
  return timed(perfs, math_, work_bytes);
}

std::vector<CudnnAlgo> CudnnConv::time_backward_filter(const float* x, const float* dy, float* dw, void* work,
                                                       size_t work_bytes, cudaStream_t stream) {
  prepare_timing(kFilter, stream);
  const auto perfs = ranked<cudnnConvolutionBwdFilterAlgoPerf_t>(
      handle_, cudnnGetConvolutionBackwardFilterAlgorithmMaxCount, [&](int max, int* count, auto* out) {
        return cudnnFindConvolutionBackwardFilterAlgorithmEx(handle_, x_desc_, x, y_desc_, dy, desc_[kFilter],
                                                             w_desc_, dw, max, count, out, work, work_bytes);
      });
  return timed(perfs, math_, work_bytes);
}

std::vector<CudnnAlgo> CudnnConv::time_backward_data(const float* w, const float* dy, float* dx, void* work,
                                                     size_t work_bytes, cudaStream_t stream) {
  KN_CHECK(need_data_grad_, shape_text(dims_), ": planned without a data gradient, so it has no algorithm to time");
  prepare_timing(kData, stream);
  const auto perfs = ranked<cudnnConvolutionBwdDataAlgoPerf_t>(
      handle_, cudnnGetConvolutionBackwardDataAlgorithmMaxCount, [&](int max, int* count, auto* out) {
        return cudnnFindConvolutionBackwardDataAlgorithmEx(handle_, w_desc_, w, y_desc_, dy, desc_[kData], x_desc_,
                                                           dx, max, count, out, work, work_bytes);
      });
  return timed(perfs, math_, work_bytes);
}

void CudnnConv::forward(const float* x, const float* w, const float* b, float* y, int64_t n, void* work,
                        size_t work_bytes, cudaStream_t stream) {
  if (n <= 0) return;
  require_workspace(kForward, n, work_bytes);
  KN_CUDNN_CHECK(cudnnSetStream(handle_, stream));
  const float one = 1.0f, zero = 0.0f;
  KN_CUDNN_CHECK(cudnnConvolutionForward(handle_, &one, x_desc_, x, w_desc_, w, desc_[kForward],
                                         static_cast<cudnnConvolutionFwdAlgo_t>(algo_[kForward].algo), work,
                                         work_bytes, &zero, y_desc_, y));
  add_bias(b, y, n, stream);
}

void CudnnConv::add_bias(const float* b, float* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  KN_CHECK(n <= dims_.n, shape_text(dims_), ": a batch of ", n, " exceeds the planned ", dims_.n);
  set_batch(n);
  KN_CUDNN_CHECK(cudnnSetStream(handle_, stream));
  const float one = 1.0f;
  KN_CUDNN_CHECK(cudnnAddTensor(handle_, &one, bias_desc_, b, &one, y_desc_, y));
}

void CudnnConv::backward_filter(const float* x, const float* dy, float* dw, float* db, int64_t n, void* work,
                                size_t work_bytes, cudaStream_t stream) {
  KN_CHECK(n <= dims_.n, shape_text(dims_), ": a batch of ", n, " exceeds the planned ", dims_.n);
  if (n <= 0) {
    KN_CUDA_CHECK(cudaMemsetAsync(dw, 0, static_cast<size_t>(dims_.f * dims_.patch()) * sizeof(float), stream));
    KN_CUDA_CHECK(cudaMemsetAsync(db, 0, static_cast<size_t>(dims_.f) * sizeof(float), stream));
    return;
  }
  require_workspace(kFilter, n, work_bytes);
  const size_t bias_ws = static_cast<size_t>(column_sums_workspace(n * dims_.oh * dims_.ow, dims_.f)) * sizeof(double);
  KN_CHECK(bias_ws <= work_bytes, shape_text(dims_), ": the bias gradient needs ", bias_ws, " bytes of workspace, got ",
           work_bytes);
  column_sums(dy, db, n * dims_.oh * dims_.ow, dims_.f, static_cast<double*>(work), stream);
  KN_CUDNN_CHECK(cudnnSetStream(handle_, stream));
  const float one = 1.0f, zero = 0.0f;
  KN_CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle_, &one, x_desc_, x, y_desc_, dy, desc_[kFilter],
                                                static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo_[kFilter].algo),
                                                work, work_bytes, &zero, w_desc_, dw));
}

void CudnnConv::backward_data(const float* w, const float* dy, float* dx, int64_t n, void* work, size_t work_bytes,
                              cudaStream_t stream) {
  KN_CHECK(need_data_grad_, shape_text(dims_), ": planned without a data gradient, but dx was asked for");
  if (n <= 0) return;
  require_workspace(kData, n, work_bytes);
  KN_CUDNN_CHECK(cudnnSetStream(handle_, stream));
  const float one = 1.0f, zero = 0.0f;
  KN_CUDNN_CHECK(cudnnConvolutionBackwardData(handle_, &one, w_desc_, w, y_desc_, dy, desc_[kData],
                                              static_cast<cudnnConvolutionBwdDataAlgo_t>(algo_[kData].algo), work,
                                              work_bytes, &zero, x_desc_, dx));
}

void CudnnConv::backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int64_t n,
                         void* work, size_t work_bytes, cudaStream_t stream) {
  backward_filter(x, dy, dw, db, n, work, work_bytes, stream);
  if (dx) backward_data(w, dy, dx, n, work, work_bytes, stream);
}

}  // namespace knotnet::cuda
