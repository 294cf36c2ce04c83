// conv FILTERS K [valid|same]: k x k convolution, stride 1, with bias (engine side of
// kernels/cpu/conv.h). Parameters: kernel (F, K, K, C) in glorot_uniform with Keras's fans
// (fan_in = K*K*C, fan_out = K*K*F), bias (F) zeros. Scratch: one im2col column buffer for
// forward and one for backward, each (OH*OW, K*K*C) whatever the batch, and a (F) double
// accumulator for the bias gradient.
#pragma once

#include "engine/layer.h"
#include "kernels/cpu/conv.h"

namespace knotnet {

class ConvLayer final : public Layer {
 public:
  // in: (H, W, C). same: 'same' padding, else 'valid'.
  ConvLayer(std::string name, Shape in, int64_t filters, int64_t kernel, bool same);
  const char* kind() const override { return "conv"; }
  std::string describe() const override;
  std::vector<ParamInfo> param_infos() const override;
  std::vector<ScratchInfo> scratch_infos(int64_t batch, DType dtype) const override;
  bool needs_input_for_backward() const override { return true; }

  int64_t filters() const { return geom_.f; }
  int64_t kernel() const { return geom_.k; }
  bool same() const { return same_; }

 protected:
  void forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                     const StepContext& ctx) override;

 private:
  cpu::ConvGeometry geom_;
  bool same_;
};

}  // namespace knotnet
