#include "engine/layers/dense.h"

#include "engine/layers/common.h"
#include "kernels/cpu/dense.h"

#ifdef KNOTNET_HAVE_CUDA
#include "kernels/cuda/dense_sgemm.h"
#endif

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

// On the GPU the bias gradient's double accumulator and the SGEMM's split-K partials live in
// the layer's workspaces.
std::vector<ScratchInfo> DenseLayer::device_scratch_infos(int64_t batch, DType dtype, Device device) const {
  if (device == Device::cpu) return scratch_infos(batch, dtype);
  return {};
}

size_t DenseLayer::device_workspace_bytes(int64_t batch, Device device) const {
#ifdef KNOTNET_HAVE_CUDA
  if (device == Device::cuda)
    return cuda::dense_workspace_bytes(batch, input_shape()[0], units_);
#endif
  return 0;
}

void DenseLayer::forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) {
  if (x.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    // x: (N, I), kernel: (I, O), bias: (O) -> y: (N, O). A smaller workspace only splits K less.
    cuda::dense_forward(x.as<float>(), params_[0].as<float>(), params_[1].as<float>(), y.as<float>(), x.shape[0],
                        input_shape()[0], units_, workspace_.data, workspace_.empty() ? 0 : workspace_.bytes(),
                        compute_stream());
    return;
#else
    throw_no_cuda(*this, "forward");
#endif
  }
  dispatch_float(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::dense_forward(x.as<T>(), params_[0].as<T>(), params_[1].as<T>(), y.as<T>(), x.shape[0], input_shape()[0],
                       units_);
  });
}

void DenseLayer::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                               const StepContext& ctx) {
  if (dy.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    // Overwrites dkernel (I, O), dbias (O) and dx (N, I) unless dx is empty.
    cuda::dense_backward(x.as<float>(), params_[0].as<float>(), dy.as<float>(), dx.empty() ? nullptr : dx.as<float>(),
                         grads_[0].as<float>(), grads_[1].as<float>(), dy.shape[0], input_shape()[0], units_,
                         workspace_.data, workspace_.empty() ? 0 : workspace_.bytes(), compute_stream());
    return;
#else
    throw_no_cuda(*this, "backward");
#endif
  }
  dispatch_float(dy.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::dense_backward(x.as<T>(), params_[0].as<T>(), dy.as<T>(), dx.empty() ? nullptr : dx.as<T>(), grads_[0].as<T>(),
                        grads_[1].as<T>(), dy.shape[0], input_shape()[0], units_, scratch_[0].as<double>());
  });
}

}  // namespace knotnet
