#include "engine/layers/dense.h"

#include "engine/layers/common.h"
#include "kernels/cpu/dense.h"

namespace knotnet {

DenseLayer::DenseLayer(std::string name, Shape in, int64_t units) : Layer(std::move(name), in), units_(units) {
  KN_CHECK(in.rank() == 1, "dense needs (F) features, got ", in.str(), "; add 'flatten' before it");
  KN_CHECK(units > 0, "dense needs a positive number of units, got ", units);
  set_output_shape(Shape{units});
}

std::vector<ParamInfo> DenseLayer::param_infos() const {
  const int64_t in = input_shape()[0];
  return {
      {"kernel", Shape{in, units_}, Init::glorot_uniform, true, in, units_},
      {"bias", Shape{units_}, Init::zeros, true, 0, 0},
  };
}

std::vector<ScratchInfo> DenseLayer::scratch_infos(int64_t batch, DType dtype) const {
  return {{"bias_grad_sum", Shape{units_}, DType::f64, Span::backward}};
}

void DenseLayer::forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) {
  if (x.device == Device::cuda) throw_no_cuda(*this, "forward");
  dispatch_float(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::dense_forward(x.as<T>(), params_[0].as<T>(), params_[1].as<T>(), y.as<T>(), x.shape[0], input_shape()[0],
                       units_);
  });
}

void DenseLayer::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                               const StepContext& ctx) {
  if (dy.device == Device::cuda) throw_no_cuda(*this, "backward");
  dispatch_float(dy.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::dense_backward(x.as<T>(), params_[0].as<T>(), dy.as<T>(), dx.empty() ? nullptr : dx.as<T>(), grads_[0].as<T>(),
                        grads_[1].as<T>(), dy.shape[0], input_shape()[0], units_, scratch_[0].as<double>());
  });
}

}  // namespace knotnet
