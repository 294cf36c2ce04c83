// batchnorm: batch normalisation per channel (the last dimension) over N, H, W, or over N for
// (F) features; Keras's defaults, momentum 0.99 and epsilon 1e-3 (kernels/cpu/batchnorm.h has
// the formulas and where PyTorch differs). Parameters, in order: gamma (ones), beta (zeros),
// moving_mean (zeros, non-trainable), moving_variance (ones, non-trainable). Training mode
// normalises with the batch statistics and updates the moving ones; inference mode uses the
// moving ones. Scratch: the batch mean and inverse standard deviation saved for backward, and
// (2, C) double accumulators for forward and for backward.
#pragma once

#include "engine/layer.h"

namespace knotnet {

class BatchNormLayer final : public Layer {
 public:
  static constexpr double kMomentum = 0.99;
  static constexpr double kEpsilon = 1e-3;

  BatchNormLayer(std::string name, Shape in, double momentum = kMomentum, double epsilon = kEpsilon);
  const char* kind() const override { return "batchnorm"; }
  std::string describe() const override { return "batchnorm"; }
  std::vector<ParamInfo> param_infos() const override;
  std::vector<ScratchInfo> scratch_infos(int64_t batch, DType dtype) const override;
  std::vector<ScratchInfo> device_scratch_infos(int64_t batch, DType dtype, Device device) const override;
  size_t device_workspace_bytes(int64_t batch, Device device) const override;
  bool needs_input_for_backward() const override { return true; }

  int64_t channels() const { return channels_; }
  double momentum() const { return momentum_; }
  double epsilon() const { return epsilon_; }

 protected:
  void forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                     const StepContext& ctx) override;

 private:
  int64_t channels_;
  double momentum_, epsilon_;
};

}  // namespace knotnet
