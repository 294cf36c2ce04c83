#include "engine/layers/fused_bn_relu_pool.h"

#include "engine/layers/common.h"
#include "engine/layers/maxpool.h"
#include "engine/layers/relu.h"

#ifdef KNOTNET_HAVE_CUDA
#include "kernels/cuda/batchnorm.h"
#include "kernels/cuda/fused_bn_relu_pool.h"
#endif

namespace knotnet {

FusedBnReluPoolLayer::FusedBnReluPoolLayer(const BatchNormLayer& bn, bool pool)
    : Layer(bn.name(), bn.input_shape()),
      channels_(bn.channels()),
      momentum_(bn.momentum()),
      epsilon_(bn.epsilon()),
      pool_(pool),
      param_infos_(bn.param_infos()) {
  const Shape& in = input_shape();
  KN_CHECK(in.rank() == 3, "layer '", name(), "': fusing needs (H, W, C) input, got ", in.str());
  if (pool_) {
    KN_CHECK(in[0] % 2 == 0 && in[1] % 2 == 0, "layer '", name(), "': the fused pool needs an even height and width");
    set_output_shape(Shape{in[0] / 2, in[1] / 2, in[2]});
  }
}

bool FusedBnReluPoolLayer::fusable_at(const std::vector<std::unique_ptr<Layer>>& layers, size_t i, bool& pool) {
  pool = false;
  if (i + 1 >= layers.size()) return false;
  const auto* bn = dynamic_cast<const BatchNormLayer*>(layers[i].get());
  if (!bn || bn->input_shape().rank() != 3 || !dynamic_cast<const ReluLayer*>(layers[i + 1].get())) return false;
  const Shape& in = bn->input_shape();
  pool = i + 2 < layers.size() && dynamic_cast<const MaxPoolLayer*>(layers[i + 2].get()) && in[0] % 2 == 0 &&
         in[1] % 2 == 0;
  return true;
}

std::vector<ScratchInfo> FusedBnReluPoolLayer::scratch_infos(int64_t batch, DType dtype) const {
  std::vector<ScratchInfo> s = {
      {"batch_mean", Shape{channels_}, dtype, Span::forward_to_backward},
      {"batch_inv_std", Shape{channels_}, dtype, Span::forward_to_backward},
  };
  if (pool_) s.push_back({"argmax", output_shape().with_batch(batch), DType::u8, Span::forward_to_backward});
  return s;
}

size_t FusedBnReluPoolLayer::device_workspace_bytes(int64_t batch, Device device) const {
#ifdef KNOTNET_HAVE_CUDA
  if (device == Device::cuda) {
    const int64_t m = batch * input_shape()[0] * input_shape()[1];
    return static_cast<size_t>(cuda::batchnorm_workspace(m, channels_)) * sizeof(double);
  }
#endif
  return 0;
}

void FusedBnReluPoolLayer::forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) {
  KN_CHECK(x.device == Device::cuda, "layer '", name(), "' (", kind(), ") runs on the GPU only; the CPU model never fuses");
#ifdef KNOTNET_HAVE_CUDA
  const Shape& in = input_shape();
  const int64_t n = x.shape[0];
  check_workspace(*this, workspace_, device_workspace_bytes(n, Device::cuda));
  cuda::BnParams p;
  p.gamma = params_[0].as<float>();
  p.beta = params_[1].as<float>();
  p.moving_mean = params_[2].as<float>();
  p.moving_var = params_[3].as<float>();
  p.save_mean = scratch_[0].as<float>();
  p.save_inv_std = scratch_[1].as<float>();
  p.momentum = momentum_;
  p.epsilon = epsilon_;
  p.train = ctx.mode == Mode::train;
  double* work = static_cast<double*>(workspace_.data);
  if (pool_)
    cuda::bn_relu_pool_forward(x.as<float>(), y.as<float>(), scratch_[2].as<uint8_t>(), n, in[0], in[1], in[2], p,
                               work, compute_stream());
  else
    cuda::bn_relu_forward(x.as<float>(), y.as<float>(), n * in[0] * in[1], in[2], p, work, compute_stream());
#else
  throw_no_cuda(*this, "forward");
#endif
}

void FusedBnReluPoolLayer::backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                                         const StepContext& ctx) {
  KN_CHECK(dy.device == Device::cuda, "layer '", name(), "' (", kind(), ") runs on the GPU only");
  KN_CHECK(ctx.mode == Mode::train, "layer '", name(), "' (", kind(),
           "): the fused backward is for training; build the model with fuse off to differentiate in inference mode");
#ifdef KNOTNET_HAVE_CUDA
  const Shape& in = input_shape();
  const int64_t n = x.shape[0];
  check_workspace(*this, workspace_, device_workspace_bytes(n, Device::cuda));
  double* work = static_cast<double*>(workspace_.data);
  float* dxp = dx.empty() ? nullptr : dx.as<float>();
  if (pool_)
    cuda::bn_relu_pool_backward(x.as<float>(), y.as<float>(), scratch_[2].as<uint8_t>(), dy.as<float>(), dxp, n,
                                in[0], in[1], in[2], params_[0].as<float>(), scratch_[0].as<float>(),
                                scratch_[1].as<float>(), grads_[0].as<float>(), grads_[1].as<float>(), work,
                                compute_stream());
  else
    cuda::bn_relu_backward(x.as<float>(), y.as<float>(), dy.as<float>(), dxp, n * in[0] * in[1], in[2],
                           params_[0].as<float>(), scratch_[0].as<float>(), scratch_[1].as<float>(),
                           grads_[0].as<float>(), grads_[1].as<float>(), work, compute_stream());
#else
  throw_no_cuda(*this, "backward");
#endif
}

}  // namespace knotnet
