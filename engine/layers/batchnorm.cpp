#include "engine/layers/batchnorm.h"

#include "engine/layers/common.h"
#include "kernels/cpu/batchnorm.h"

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

void BatchNormLayer::forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) {
  if (x.device == Device::cuda) throw_no_cuda(*this, "forward");
  const int64_t m = x.numel() / channels_;
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
  if (dy.device == Device::cuda) throw_no_cuda(*this, "backward");
  const int64_t m = dy.numel() / channels_;
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
