#include "engine/layers/dropout.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "engine/device_copy.h"
#include "engine/layers/common.h"
#include "engine/rng.h"
#include "kernels/cpu/dropout.h"

#ifdef KNOTNET_HAVE_CUDA
#include "kernels/cuda/dropout.h"
#endif

namespace knotnet {

DropoutLayer::DropoutLayer(std::string name, Shape in, double rate)
    : Layer(std::move(name), in), rate_(rate), name_hash_(fnv1a64(this->name())) {
  KN_CHECK(std::isfinite(rate) && rate >= 0 && rate < 1, "dropout rate must lie in [0, 1), got ", rate);
}

std::string DropoutLayer::describe() const {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, rate_);  // shortest text that reads back exactly
  return "dropout " + std::string(buf, ec == std::errc() ? end : buf);
}

void DropoutLayer::forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) {
  if (ctx.mode == Mode::infer && x.data == y.data) return;
  if (x.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    if (ctx.mode == Mode::infer)
      copy_tensor_async(x, y);
    else
      cuda::dropout_forward(x.as<float>(), y.as<float>(), x.numel(), rate_, ctx.seed, stream(ctx.step),
                            compute_stream());
    return;
#else
    throw_no_cuda(*this, "forward");
#endif
  }
  if (ctx.mode == Mode::infer) {
    std::memcpy(y.data, x.data, x.bytes());
    return;
  }
  dispatch_float(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::dropout_forward(x.as<T>(), y.as<T>(), x.numel(), rate_, ctx.seed, stream(ctx.step));
  });
}

void DropoutLayer::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                                 const StepContext& ctx) {
  if (dx.empty()) return;
  if (dy.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    if (ctx.mode == Mode::infer)
      copy_tensor_async(dy, dx);
    else
      cuda::dropout_backward(dy.as<float>(), dx.as<float>(), dy.numel(), rate_, ctx.seed, stream(ctx.step),
                             compute_stream());
    return;
#else
    throw_no_cuda(*this, "backward");
#endif
  }
  if (ctx.mode == Mode::infer) {
    if (dx.data != dy.data) std::memcpy(dx.data, dy.data, dy.bytes());
    return;
  }
  dispatch_float(dy.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::dropout_backward(dy.as<T>(), dx.as<T>(), dy.numel(), rate_, ctx.seed, stream(ctx.step));
  });
}

}  // namespace knotnet
