#include "engine/layers/relu.h"

#include "engine/layers/common.h"
#include "kernels/cpu/activation.h"

#ifdef KNOTNET_HAVE_CUDA
#include "kernels/cuda/relu.h"
#endif

namespace knotnet {

void ReluLayer::forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) {
  if (x.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    cuda::relu_forward(x.as<float>(), y.as<float>(), x.numel(), compute_stream());
    return;
#else
    throw_no_cuda(*this, "forward");
#endif
  }
  dispatch_float(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::relu_forward(x.as<T>(), y.as<T>(), x.numel());
  });
}

void ReluLayer::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                              const StepContext& ctx) {
  if (dx.empty()) return;
  if (dy.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    cuda::relu_backward(y.as<float>(), dy.as<float>(), dx.as<float>(), dy.numel(), compute_stream());
    return;
#else
    throw_no_cuda(*this, "backward");
#endif
  }
  dispatch_float(dy.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::relu_backward(y.as<T>(), dy.as<T>(), dx.as<T>(), dy.numel());
  });
}

}  // namespace knotnet
