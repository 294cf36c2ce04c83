#include "engine/layers/maxpool.h"

#include "engine/layers/common.h"
#include "kernels/cpu/pool.h"

#ifdef KNOTNET_HAVE_CUDA
#include "kernels/cuda/maxpool.h"
#endif

namespace knotnet {

MaxPoolLayer::MaxPoolLayer(std::string name, Shape in) : Layer(std::move(name), in) {
  KN_CHECK(in.rank() == 3 && in[0] >= 2 && in[1] >= 2, "maxpool 2 needs an (H, W, C) input of at least 2x2, got ",
           in.str());
  set_output_shape(Shape{in[0] / 2, in[1] / 2, in[2]});
}

std::vector<ScratchInfo> MaxPoolLayer::scratch_infos(int64_t batch, DType dtype) const {
  return {{"argmax", output_shape().with_batch(batch), DType::u8, Span::forward_to_backward}};
}

void MaxPoolLayer::forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) {
  const Shape& in = input_shape();
  if (x.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    // x: (N, H, W, C) -> y, argmax: (N, H/2, W/2, C)
    cuda::maxpool2_forward(x.as<float>(), y.as<float>(), scratch_[0].as<uint8_t>(), x.shape[0], in[0], in[1], in[2],
                           compute_stream());
    return;
#else
    throw_no_cuda(*this, "forward");
#endif
  }
  dispatch_float(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::maxpool2_forward(x.as<T>(), y.as<T>(), scratch_[0].as<uint8_t>(), x.shape[0], in[0], in[1], in[2]);
  });
}

void MaxPoolLayer::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                                 const StepContext& ctx) {
  if (dx.empty()) return;
  const Shape& in = input_shape();
  if (dy.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    cuda::maxpool2_backward(dy.as<float>(), scratch_[0].as<uint8_t>(), dx.as<float>(), dy.shape[0], in[0], in[1],
                            in[2], compute_stream());
    return;
#else
    throw_no_cuda(*this, "backward");
#endif
  }
  dispatch_float(dy.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::maxpool2_backward(dy.as<T>(), scratch_[0].as<uint8_t>(), dx.as<T>(), dy.shape[0], in[0], in[1], in[2]);
  });
}

}  // namespace knotnet
