// relu: y = max(x, 0). Backward reads the output (dx = dy where y > 0), so the model keeps the
// output rather than the input alive for it.
#pragma once

#include "engine/layer.h"

namespace knotnet {

class ReluLayer final : public Layer {
 public:
  ReluLayer(std::string name, Shape in) : Layer(std::move(name), in) {}
  const char* kind() const override { return "relu"; }
  std::string describe() const override { return "relu"; }
  bool needs_output_for_backward() const override { return true; }

 protected:
  void forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                     const StepContext& ctx) override;
};

}  // namespace knotnet
