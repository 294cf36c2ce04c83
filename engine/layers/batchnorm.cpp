#include "engine/layers/batchnorm.h"

#include "engine/layers/common.h"
#include "kernels/cpu/batchnorm.h"

#ifdef KNOTNET_HAVE_CUDA
#include "kernels/cuda/batchnorm.h"
#endif

namespace knotnet {

BatchNormLayer::BatchNormLayer(std::string name, Shape in, double momentum, double epsilon)
    : Layer(std::move(name), in), channels_(0), momentum_(momentum), epsilon_(epsilon) {
  KN_CHECK(in.rank() == 3 || in.rank() == 1, "batchnorm needs (H, W, C) or (F) input, got ", in.str());
  channels_ = in[in.rank() - 1];
  KN_CHECK(momentum >= 0 && momentum <= 1 && epsilon > 0,
           "batchnorm: momentum must lie in [0, 1] and epsilon be "
           "positive, got ",
           momentum, " and ", epsilon);
}

std::vector<ParamInfo> BatchNormLayer::param_infos() const {
  const Shape c{channels_};
  return {
      {"gamma", c, Init::ones, true, 0, 0},
      {"beta", c, Init::zeros, true, 0, 0},
      {"moving_mean", c, Init::zeros, false, 0, 0},
      {"moving_variance", c, Init::ones, false, 0, 0},
  };
}

std::vector<ScratchInfo> BatchNormLayer::scratch_infos(int64_t batch, DType dtype) const {
  return {
      {"batch_mean", Shape{channels_}, dtype, Span::forward_to_backward},
      {"batch_inv_std", Shape{channels_}, dtype, Span::forward_to_backward},
      {"forward_sums", Shape{2, channels_}, DType::f64, Span::forward},
      {"backward_sums", Shape{2, channels_}, DType::f64, Span::backward},
  };
}

// On the GPU only the saved batch statistics are per-layer; the (2, C) double sums of the CPU
// path become the kernels' reduction workspace, which lives in the layer's workspaces.
std::vector<ScratchInfo> BatchNormLayer::device_scratch_infos(int64_t batch, DType dtype, Device device) const {
  if (device == Device::cpu) return scratch_infos(batch, dtype);
  return {
      {"batch_mean", Shape{channels_}, dtype, Span::forward_to_backward},
      {"batch_inv_std", Shape{channels_}, dtype, Span::forward_to_backward},
  };
}

size_t BatchNormLayer::device_workspace_bytes(int64_t batch, Device device) const {
#ifdef KNOTNET_HAVE_CUDA
  if (device == Device::cuda) {
    const int64_t rows_per_sample = input_shape().numel() / channels_;  // H*W, or 1 for (F)
    return static_cast<size_t>(cuda::batchnorm_workspace(batch * rows_per_sample, channels_)) * sizeof(double);
  }
#endif
  return 0;
}

void BatchNormLayer::forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) {
  const int64_t m = x.numel() / channels_;
  if (x.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    // x, y: (M, C); params: gamma, beta, moving_mean, moving_variance (C); scratch: mean, inv_std (C)
    check_workspace(*this, workspace_, static_cast<size_t>(cuda::batchnorm_workspace(m, channels_)) * sizeof(double));
    double* work = static_cast<double*>(workspace_.data);
    if (ctx.mode == Mode::train)
      cuda::batchnorm_forward_train(x.as<float>(), y.as<float>(), m, channels_, params_[0].as<float>(),
                                    params_[1].as<float>(), params_[2].as<float>(), params_[3].as<float>(), momentum_,
                                    epsilon_, scratch_[0].as<float>(), scratch_[1].as<float>(), work,
                                    compute_stream());
    else
      cuda::batchnorm_forward_infer(x.as<float>(), y.as<float>(), m, channels_, params_[0].as<float>(),
                                    params_[1].as<float>(), params_[2].as<float>(), params_[3].as<float>(), epsilon_,
                                    work, compute_stream());
    return;
#else
    throw_no_cuda(*this, "forward");
#endif
  }
  dispatch_float(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    if (ctx.mode == Mode::train)
      cpu::batchnorm_forward_train(x.as<T>(), y.as<T>(), m, channels_, params_[0].as<T>(), params_[1].as<T>(),
                                   params_[2].as<T>(), params_[3].as<T>(), momentum_, epsilon_, scratch_[0].as<T>(),
                                   scratch_[1].as<T>(), scratch_[2].as<double>());
    else
      cpu::batchnorm_forward_infer(x.as<T>(), y.as<T>(), m, channels_, params_[0].as<T>(), params_[1].as<T>(),
                                   params_[2].as<T>(), params_[3].as<T>(), epsilon_, scratch_[2].as<double>());
  });
}

void BatchNormLayer::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                                   const StepContext& ctx) {
  const int64_t m = dy.numel() / channels_;
  if (dy.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    check_workspace(*this, workspace_, static_cast<size_t>(cuda::batchnorm_workspace(m, channels_)) * sizeof(double));
    double* work = static_cast<double*>(workspace_.data);
    float* dxp = dx.empty() ? nullptr : dx.as<float>();
    if (ctx.mode == Mode::train)
      cuda::batchnorm_backward_train(x.as<float>(), dy.as<float>(), dxp, m, channels_, params_[0].as<float>(),
                                     scratch_[0].as<float>(), scratch_[1].as<float>(), grads_[0].as<float>(),
                                     grads_[1].as<float>(), work, compute_stream());
    else
      cuda::batchnorm_backward_infer(x.as<float>(), dy.as<float>(), dxp, m, channels_, params_[0].as<float>(),
                                     params_[2].as<float>(), params_[3].as<float>(), epsilon_, grads_[0].as<float>(),
                                     grads_[1].as<float>(), work, compute_stream());
    return;
#else
    throw_no_cuda(*this, "backward");
#endif
  }
  dispatch_float(dy.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* dxp = dx.empty() ? nullptr : dx.as<T>();
    if (ctx.mode == Mode::train)
      cpu::batchnorm_backward_train(x.as<T>(), dy.as<T>(), dxp, m, channels_, params_[0].as<T>(), scratch_[0].as<T>(),
                                    scratch_[1].as<T>(), grads_[0].as<T>(), grads_[1].as<T>(),
                                    scratch_[3].as<double>());
    else
      cpu::batchnorm_backward_infer(x.as<T>(), dy.as<T>(), dxp, m, channels_, params_[0].as<T>(), params_[2].as<T>(),
                                    params_[3].as<T>(), epsilon_, grads_[0].as<T>(), grads_[1].as<T>(),
                                    scratch_[3].as<double>());
  });
}

}  // namespace knotnet
