// flatten: (H, W, C) -> (H*W*C) in NHWC order (Keras's order for channels-last data). The
// output is the input's memory under another shape, so the model gives it no buffer of its
// own; forward and backward copy only when handed distinct buffers.
#pragma once

#include "engine/layer.h"

namespace knotnet {

class FlattenLayer final : public Layer {
 public:
  FlattenLayer(std::string name, Shape in);
  const char* kind() const override { return "flatten"; }
  std::string describe() const override { return "flatten"; }
  bool output_aliases_input() const override { return true; }

 protected:
  void forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                     const StepContext& ctx) override;
};

}  // namespace knotnet
