#include "engine/layers/conv.h"

#include <algorithm>
#include <vector>

#include "engine/conv_choice.h"
#include "engine/layers/common.h"

#ifdef KNOTNET_HAVE_CUDA
#include "engine/layers/conv_autotune.h"
#include "kernels/cuda/conv_cudnn.h"
#include "kernels/cuda/conv_direct.h"
#include "kernels/cuda/conv_implicit_gemm.h"
#include "kernels/cuda/reduce.h"
#endif

namespace knotnet {

void ConvLayer::CudnnDeleter::operator()(cuda::CudnnConv* p) const {
#ifdef KNOTNET_HAVE_CUDA
  delete p;
#else
  (void)p;  // never made in a build without CUDA
#endif
}

ConvLayer::ConvLayer(std::string name, Shape in, int64_t filters, int64_t kernel, bool same, bool implicit)
    : Layer(std::move(name), in), same_(same), implicit_(implicit) {
  KN_CHECK(in.rank() == 3, "conv needs an (H, W, C) input, got ", in.str());
  KN_CHECK(filters > 0 && kernel > 0, "conv needs positive filters and kernel size");
  KN_CHECK(same || (kernel <= in[0] && kernel <= in[1]), "conv kernel ", kernel, " is larger than the input ", in.str(),
           " with valid padding");
  geom_ = cpu::ConvGeometry::make(in[0], in[1], in[2], kernel, filters, same);
  set_output_shape(Shape{geom_.oh, geom_.ow, filters});
}

ConvLayer::~ConvLayer() = default;

std::string ConvLayer::describe() const {
  return "conv " + std::to_string(geom_.f) + " " + std::to_string(geom_.k) + (same_ ? " same" : " valid") +
         (implicit_ ? " implicit" : "");
}

std::vector<ParamInfo> ConvLayer::param_infos() const {
  const int64_t k = geom_.k, c = geom_.c, f = geom_.f;
  return {
      {"kernel", Shape{f, k, k, c}, Init::glorot_uniform, true, k * k * c, k * k * f},
      {"bias", Shape{f}, Init::zeros, true, 0, 0},
  };
}

std::vector<ScratchInfo> ConvLayer::scratch_infos(int64_t batch, DType dtype) const {
  const Shape cols{geom_.positions(), geom_.patch()};
  return {
      {"columns", cols, dtype, Span::forward},
      {"columns_grad", cols, dtype, Span::backward},
      {"bias_grad_sum", Shape{geom_.f}, DType::f64, Span::backward},
  };
}

std::vector<ScratchInfo> ConvLayer::device_scratch_infos(int64_t batch, DType dtype, Device device) const {
  if (device == Device::cpu) return scratch_infos(batch, dtype);
  return {};  // everything transient goes to the layer's workspaces
}

void ConvLayer::prepare_device(const DevicePlan& plan) {
  const Shape& in = input_shape();
  dims_ = cuda::ConvDims::make(plan.batch, in[0], in[1], in[2], geom_.k, geom_.f, same_);
  cudnn_allowed_ = !implicit_ && !plan.force_implicit_conv && dims_.symmetric();
  measure_ = plan.measure_conv && plan.query_library;
  tf32_ = plan.tf32;
  prefer_deterministic_ = plan.cudnn_deterministic;
  for (int dir = 0; dir < 3; ++dir) {
    tile_[dir] = cuda::gemm::TileKind::automatic;
    run_cudnn_[dir] = cudnn_allowed_ && (dir != static_cast<int>(ConvDirection::data) || plan.needs_input_grad);
    timed_[dir].clear();
  }
  cudnn_.reset();
  planned_workspace_ = reserved_workspace_ = 0;
#ifdef KNOTNET_HAVE_CUDA
  if (!cudnn_allowed_) {
    planned_workspace_ = reserved_workspace_ = cuda::conv_igemm_workspace_bytes(dims_);
    return;
  }
  const size_t bias = static_cast<size_t>(cuda::column_sums_workspace(plan.batch * dims_.oh * dims_.ow, dims_.f)) *
                      sizeof(double);
  // The most cuDNN may ask for: the limit, or, if that is more and allowed, a copy of this
  // layer's input, output and filter plus 1 MiB. cuDNN 9's strict-fp32 NHWC algorithm 1 converts
  // the layout through that much (on an H100: the three, plus 16 to 1,040 bytes of alignment).
  const size_t io_bytes =
      static_cast<size_t>(plan.batch * (dims_.h * dims_.w * dims_.c + dims_.oh * dims_.ow * dims_.f) +
                          dims_.f * dims_.patch()) * sizeof(float) + (size_t(1) << 20);
  const size_t limit = plan.cudnn_workspace_io_sized ? std::max(plan.cudnn_workspace_limit, io_bytes)
                                                     : plan.cudnn_workspace_limit;
  // Planning without a GPU: cuDNN cannot be asked, so reserve the most it may be allowed (its
  // algorithms are chosen under this limit), the bias sums' need, or the direct convolution's
  // partials (conv_direct.h: 3.7 MB for the seed's conv_1, which timing may give it), whichever is
  // largest; the last two matter only when a budget lowers the limit.
  reserved_workspace_ = std::max({limit, bias, cuda::conv_direct_filter_workspace_bytes(dims_)});
  if (!plan.query_library) {
    planned_workspace_ = reserved_workspace_;
    return;
  }
  // cuDNN's refusal, with this layer's name and the way out added.
  auto explained = [&](const Error& e) {
    return "layer '" + name() + "' (" + describe() + "): " + e.what() +
           "; write 'implicit' at the end of this conv line to use the hand-written convolution";
  };
  try {
    cudnn_.reset(new cuda::CudnnConv(CudaContext::get().cudnn(), dims_,
                                     plan.tf32 ? cuda::ConvMath::tf32 : cuda::ConvMath::fp32,
                                     limit, plan.needs_input_grad, plan.cudnn_deterministic));
  } catch (const NoCudnnAlgorithm& e) {  // keeps its type: fit falls back to the implicit GEMM on it
    throw NoCudnnAlgorithm(explained(e), e.file(), e.line());
  } catch (const Error& e) {
    throw Error(explained(e), e.file(), e.line());
  }
  // Timing may choose any algorithm under the limit (or the implicit GEMM, whose split-K uses
  // what there is): reserve the limit, as a plan made without a GPU does.
  planned_workspace_ = measure_ ? reserved_workspace_ : cudnn_->workspace_bytes();
#endif
}

void ConvLayer::tune_device(const DeviceTuning& t) {
#ifdef KNOTNET_HAVE_CUDA
  if (!measure_) return;
  ConvTuneBuffers b;
  b.x = t.x.as<float>();
  b.w = params_[0].as<float>();
  b.b = params_[1].as<float>();
  b.y = t.y.as<float>();
  b.dy = t.dy.as<float>();
  b.dx = t.dx.empty() ? nullptr : t.dx.as<float>();  // empty for the first layer: no data gradient
  b.dw = grads_[0].as<float>();
  b.db = grads_[1].as<float>();
  // The forward is timed in the forward step's workspace, the gradients in the backward step's:
  // each is disjoint from the buffers its direction reads and writes. Both have the same size.
  b.work = workspace_forward_.data;
  b.work_backward = workspace_backward_.data;
  b.work_bytes = std::min(workspace_forward_.empty() ? 0 : workspace_forward_.bytes(),
                          workspace_backward_.empty() ? 0 : workspace_backward_.bytes());
  const ConvRouting r = tune_conv(cudnn_.get(), dims_, tf32_ ? cuda::ConvMath::tf32 : cuda::ConvMath::fp32,
                                  prefer_deterministic_, b, compute_stream());
  for (int dir = 0; dir < 3; ++dir) {
    run_cudnn_[dir] = r.cudnn[dir];
    tile_[dir] = r.tile[dir];
    timed_[dir] = r.report[dir];
  }
#else
  (void)t;
#endif
}

size_t ConvLayer::device_workspace_bytes(int64_t batch, Device device) const {
  if (device == Device::cpu) return 0;
  KN_CHECK(dims_.n == batch, "layer '", name(), "': device_workspace_bytes for batch ", batch,
           " before prepare_device planned it");
  return planned_workspace_;
}

size_t ConvLayer::device_workspace_reserve(int64_t batch, Device device) const {
  return device == Device::cpu ? 0 : std::max(reserved_workspace_, device_workspace_bytes(batch, device));
}

std::string ConvLayer::device_algorithms() const {
  std::string timed;
  for (int dir = 0; dir < 3; ++dir)
    if (!timed_[dir].empty())
      timed += (timed.empty() ? "" : "; ") + std::string(conv_direction_name(static_cast<ConvDirection>(dir))) + ": " +
               timed_[dir];
  if (!timed.empty()) return timed;
#ifdef KNOTNET_HAVE_CUDA
  if (cudnn_) return "cuDNN: " + cudnn_->describe();
#endif
  if (cudnn_allowed_) return "cuDNN (not chosen yet: planned without a GPU)";
  return "implicit GEMM";
}

namespace {

// A float tensor's values cut to TF32, as a copy: the layer must not change its input or weights.
// (Test-only path: the allocation per call is outside the memory plan.)
std::vector<float> tf32_copy(const Tensor& t, cpu::Tf32Rounding r) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  cpu::to_tf32(t.as<float>(), out.data(), out.size(), r);
  return out;
}

}  // namespace

void ConvLayer::forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) {
  if (x.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    // x: (N, H, W, C), kernel: (F, K, K, C), bias: (F) -> y: (N, OH, OW, F)
    const int64_t n = x.shape[0];
    KN_CHECK(dims_.n >= n && dims_.n > 0, "layer '", name(), "': prepare_device was not called for a batch of ", n);
    if (run_cudnn_[static_cast<int>(ConvDirection::forward)]) {
      KN_CHECK(cudnn_, "layer '", name(), "': cuDNN was not set up (a plan-only model cannot run)");
      cudnn_->forward(x.as<float>(), params_[0].as<float>(), params_[1].as<float>(), y.as<float>(), n,
                      workspace_.data, workspace_.empty() ? 0 : workspace_.bytes(), compute_stream());
    } else {
      cuda::conv_igemm_forward(x.as<float>(), params_[0].as<float>(), params_[1].as<float>(), y.as<float>(),
                               dims_.with_batch(n), compute_stream(), tile(ConvDirection::forward));
    }
    return;
#else
    throw_no_cuda(*this, "forward");
#endif
  }
  if (tf32_emulation_ != cpu::Tf32Rounding::none) {
    KN_CHECK(x.dtype == DType::f32, "layer '", name(), "': TF32 emulation is for f32 models");
    const std::vector<float> xt = tf32_copy(x, tf32_emulation_), wt = tf32_copy(params_[0], tf32_emulation_);
    cpu::conv_forward(xt.data(), wt.data(), params_[1].as<float>(), y.as<float>(), x.shape[0], geom_,
                      scratch_[0].as<float>());
    return;
  }
  dispatch_float(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::conv_forward(x.as<T>(), params_[0].as<T>(), params_[1].as<T>(), y.as<T>(), x.shape[0], geom_,
                      scratch_[0].as<T>());
  });
}

void ConvLayer::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                              const StepContext& ctx) {
  if (dy.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    // Overwrites dkernel (F, K, K, C), dbias (F) and dx (N, H, W, C) unless dx is empty.
    const int64_t n = dy.shape[0];
    KN_CHECK(dims_.n >= n && dims_.n > 0, "layer '", name(), "': prepare_device was not called for a batch of ", n);
    float* dxp = dx.empty() ? nullptr : dx.as<float>();
    const size_t ws_bytes = workspace_.empty() ? 0 : workspace_.bytes();
    const bool filter_on_cudnn = run_cudnn_[static_cast<int>(ConvDirection::filter)];
    const bool data_on_cudnn = run_cudnn_[static_cast<int>(ConvDirection::data)];
    KN_CHECK(cudnn_ || (!filter_on_cudnn && !data_on_cudnn), "layer '", name(),
             "': cuDNN was not set up (a plan-only model cannot run)");
    if (filter_on_cudnn)
      cudnn_->backward_filter(x.as<float>(), dy.as<float>(), grads_[0].as<float>(), grads_[1].as<float>(), n,
                              workspace_.data, ws_bytes, compute_stream());
    else
      cuda::conv_igemm_backward_filter(x.as<float>(), dy.as<float>(), grads_[0].as<float>(), grads_[1].as<float>(),
                                       dims_.with_batch(n), workspace_.data, ws_bytes, compute_stream(),
                                       tile(ConvDirection::filter));
    if (dxp && data_on_cudnn)
      cudnn_->backward_data(params_[0].as<float>(), dy.as<float>(), dxp, n, workspace_.data, ws_bytes,
                            compute_stream());
    else if (dxp)
      cuda::conv_igemm_backward_data(dy.as<float>(), params_[0].as<float>(), dxp, dims_.with_batch(n),
                                     compute_stream(), tile(ConvDirection::data));
    return;
#else
    throw_no_cuda(*this, "backward");
#endif
  }
  if (tf32_emulation_ != cpu::Tf32Rounding::none) {
    KN_CHECK(dy.dtype == DType::f32, "layer '", name(), "': TF32 emulation is for f32 models");
    const std::vector<float> xt = tf32_copy(x, tf32_emulation_), wt = tf32_copy(params_[0], tf32_emulation_),
                             dyt = tf32_copy(dy, tf32_emulation_);
    cpu::conv_backward(xt.data(), wt.data(), dyt.data(), dx.empty() ? nullptr : dx.as<float>(), grads_[0].as<float>(),
                       grads_[1].as<float>(), dy.shape[0], geom_, scratch_[1].as<float>(), scratch_[2].as<double>());
    // The bias gradient is a sum, with no products to cut: taken again from dy as it is, as on the
    // GPU, over the one conv_backward took from the cut dy.
    cpu::conv_bias_gradient(dy.as<float>(), grads_[1].as<float>(), dy.shape[0], geom_, scratch_[2].as<double>());
    return;
  }
  dispatch_float(dy.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::conv_backward(x.as<T>(), params_[0].as<T>(), dy.as<T>(), dx.empty() ? nullptr : dx.as<T>(), grads_[0].as<T>(),
                       grads_[1].as<T>(), dy.shape[0], geom_, scratch_[1].as<T>(), scratch_[2].as<double>());
  });
}

}  // namespace knotnet
