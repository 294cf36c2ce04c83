#include "engine/layers/flatten.h"

#include <cstring>

#include "engine/device_copy.h"
#include "engine/layers/common.h"

namespace knotnet {

FlattenLayer::FlattenLayer(std::string name, Shape in) : Layer(std::move(name), in) {
  KN_CHECK(in.rank() >= 1, "flatten needs an input with at least one dimension");
  set_output_shape(Shape{in.numel()});
}

void FlattenLayer::forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) {
  if (x.data == y.data) return;
  if (x.device == Device::cuda) {
    copy_tensor_async(x, y);  // a device-to-device copy on the compute stream
    return;
  }
  std::memcpy(y.data, x.data, x.bytes());
}

void FlattenLayer::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                                 const StepContext& ctx) {
  if (dx.empty() || dx.data == dy.data) return;
  if (dy.device == Device::cuda) {
    copy_tensor_async(dy, dx);
    return;
  }
  std::memcpy(dx.data, dy.data, dy.bytes());
}

}  // namespace knotnet
