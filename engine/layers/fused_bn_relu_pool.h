// batchnorm -> relu (-> maxpool 2) as one layer, on the GPU only: a CUDA model built with
// ModelOptions::fuse (the default) puts it in place of the two or three spec layers
// (Model::fuse_layers). Forward reads BN's input and writes only the last op's output (and the
// pool's argmax); backward produces BN's dx, dgamma and dbeta from the last op's gradient in
// one reduction pass and one elementwise pass (kernels/cuda/fused_bn_relu_pool.h). So neither
// BN's nor ReLU's output, nor their gradients, exist in the memory plan: at batch 128 of the
// seed model that is four 496 MiB tensors fewer to hold and to stream through memory.
//
// It takes the batch-norm layer's name and parameters (gamma, beta, moving_mean,
// moving_variance, in that order), so checkpoints, parameter order and initial values are those
// of the unfused model; the CPU path (the reference) never fuses. The pool is fused only for an
// even height and width (the unfused max-pool's floor on odd sizes stays unfused).
#pragma once

#include "engine/layers/batchnorm.h"

namespace knotnet {

class FusedBnReluPoolLayer final : public Layer {
 public:
  // The batch-norm layer being fused (its name, shape, momentum, epsilon) and whether the
  // max-pool after the ReLU is fused too.
  FusedBnReluPoolLayer(const BatchNormLayer& bn, bool pool);
  const char* kind() const override { return pool_ ? "batchnorm+relu+maxpool" : "batchnorm+relu"; }
  std::string describe() const override { return pool_ ? "batchnorm+relu+maxpool 2" : "batchnorm+relu"; }
  std::vector<ParamInfo> param_infos() const override { return param_infos_; }
  // The CPU never runs this layer; its list is the GPU's, so plans stay well-formed.
  std::vector<ScratchInfo> scratch_infos(int64_t batch, DType dtype) const override;
  size_t device_workspace_bytes(int64_t batch, Device device) const override;
  bool needs_input_for_backward() const override { return true; }
  bool needs_output_for_backward() const override { return true; }
  bool pools() const { return pool_; }

  // True when `layers[i]` starts a fusable chain: batchnorm on (H, W, C) followed by relu.
  // `pool` is set when a maxpool follows that can be fused as well.
  static bool fusable_at(const std::vector<std::unique_ptr<Layer>>& layers, size_t i, bool& pool);

 protected:
  void forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                     const StepContext& ctx) override;

 private:
  int64_t channels_;
  double momentum_, epsilon_;
  bool pool_;
  std::vector<ParamInfo> param_infos_;  // the batch-norm layer's, exactly
};

}  // namespace knotnet
