#include "engine/layers/relu.h"

#include "engine/layers/common.h"
#include "kernels/cpu/activation.h"

namespace knotnet {

void ReluLayer::forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) {
  if (x.device == Device::cuda) throw_no_cuda(*this, "forward");
  dispatch_float(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::relu_forward(x.as<T>(), y.as<T>(), x.numel());
  });
}

void ReluLayer::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                              const StepContext& ctx) {
  if (dx.empty()) return;
  if (dy.device == Device::cuda) throw_no_cuda(*this, "backward");
  dispatch_float(dy.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::relu_backward(y.as<T>(), dy.as<T>(), dx.as<T>(), dy.numel());
  });
}

}  // namespace knotnet
