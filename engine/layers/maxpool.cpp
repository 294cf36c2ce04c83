#include "engine/layers/maxpool.h"

#include "engine/layers/common.h"
#include "kernels/cpu/pool.h"

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
  if (x.device == Device::cuda) throw_no_cuda(*this, "forward");
  const Shape& in = input_shape();
  dispatch_float(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::maxpool2_forward(x.as<T>(), y.as<T>(), scratch_[0].as<uint8_t>(), x.shape[0], in[0], in[1], in[2]);
  });
}

void MaxPoolLayer::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                                 const StepContext& ctx) {
  if (dx.empty()) return;
  if (dy.device == Device::cuda) throw_no_cuda(*this, "backward");
  const Shape& in = input_shape();
  dispatch_float(dy.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::maxpool2_backward(dy.as<T>(), scratch_[0].as<uint8_t>(), dx.as<T>(), dy.shape[0], in[0], in[1], in[2]);
  });
}

}  // namespace knotnet
