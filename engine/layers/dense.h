// dense UNITS: y = x * kernel + bias on (F) features (engine side of kernels/cpu/dense.h).
// Parameters: kernel (in, out) like Keras, glorot_uniform with fan_in = in, fan_out = out;
// bias (out) zeros. Scratch: an (out) double accumulator for the bias gradient.
#pragma once

#include "engine/layer.h"

namespace knotnet {

class DenseLayer final : public Layer {
 public:
  // in: (F).
  DenseLayer(std::string name, Shape in, int64_t units);
  const char* kind() const override { return "dense"; }
  std::string describe() const override { return "dense " + std::to_string(units_); }
  std::vector<ParamInfo> param_infos() const override;
  std::vector<ScratchInfo> scratch_infos(int64_t batch, DType dtype) const override;
  std::vector<ScratchInfo> device_scratch_infos(int64_t batch, DType dtype, Device device) const override;
  size_t device_workspace_bytes(int64_t batch, Device device) const override;
  bool needs_input_for_backward() const override { return true; }
  int64_t units() const { return units_; }

 protected:
  void forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                     const StepContext& ctx) override;

 private:
  int64_t units_;
};

}  // namespace knotnet
