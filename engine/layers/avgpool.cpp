#include "engine/layers/avgpool.h"

#include "engine/layers/common.h"
#include "kernels/cpu/pool.h"

#ifdef KNOTNET_HAVE_CUDA
#include "kernels/cuda/avgpool.h"
#endif

namespace knotnet {

AvgPoolLayer::AvgPoolLayer(std::string name, Shape in) : Layer(std::move(name), in) {
  KN_CHECK(in.rank() == 3 && in[0] >= 2 && in[1] >= 2, "avgpool 2 needs an (H, W, C) input of at least 2x2, got ",
           in.str());
  set_output_shape(Shape{in[0] / 2, in[1] / 2, in[2]});
}

void AvgPoolLayer::forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) {
  const Shape& in = input_shape();
  if (x.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    cuda::avgpool2_forward(x.as<float>(), y.as<float>(), x.shape[0], in[0], in[1], in[2], compute_stream());
    return;
#else
    throw_no_cuda(*this, "forward");
#endif
  }
  dispatch_float(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::avgpool2_forward(x.as<T>(), y.as<T>(), x.shape[0], in[0], in[1], in[2]);
  });
}

void AvgPoolLayer::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                                 const StepContext& ctx) {
  if (dx.empty()) return;  // first in the model: nothing upstream needs a gradient
  const Shape& in = input_shape();
  if (dy.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    cuda::avgpool2_backward(dy.as<float>(), dx.as<float>(), dy.shape[0], in[0], in[1], in[2], compute_stream());
    return;
#else
    throw_no_cuda(*this, "backward");
#endif
  }
  dispatch_float(dy.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::avgpool2_backward(dy.as<T>(), dx.as<T>(), dy.shape[0], in[0], in[1], in[2]);
  });
}

}  // namespace knotnet
