#include "engine/layers/conv.h"

#include "engine/layers/common.h"

namespace knotnet {

ConvLayer::ConvLayer(std::string name, Shape in, int64_t filters, int64_t kernel, bool same)
    : Layer(std::move(name), in), same_(same) {
  KN_CHECK(in.rank() == 3, "conv needs an (H, W, C) input, got ", in.str());
  KN_CHECK(filters > 0 && kernel > 0, "conv needs positive filters and kernel size");
  KN_CHECK(same || (kernel <= in[0] && kernel <= in[1]), "conv kernel ", kernel, " is larger than the input ", in.str(),
           " with valid padding");
  geom_ = cpu::ConvGeometry::make(in[0], in[1], in[2], kernel, filters, same);
  set_output_shape(Shape{geom_.oh, geom_.ow, filters});
}

std::string ConvLayer::describe() const {
  return "conv " + std::to_string(geom_.f) + " " + std::to_string(geom_.k) + (same_ ? " same" : " valid");
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

void ConvLayer::forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) {
  if (x.device == Device::cuda) throw_no_cuda(*this, "forward");
  dispatch_float(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::conv_forward(x.as<T>(), params_[0].as<T>(), params_[1].as<T>(), y.as<T>(), x.shape[0], geom_,
                      scratch_[0].as<T>());
  });
}

void ConvLayer::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                              const StepContext& ctx) {
  if (dy.device == Device::cuda) throw_no_cuda(*this, "backward");
  dispatch_float(dy.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::conv_backward(x.as<T>(), params_[0].as<T>(), dy.as<T>(), dx.empty() ? nullptr : dx.as<T>(), grads_[0].as<T>(),
                       grads_[1].as<T>(), dy.shape[0], geom_, scratch_[1].as<T>(), scratch_[2].as<double>());
  });
}

}  // namespace knotnet
