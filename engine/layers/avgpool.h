// avgpool 2: 2x2 average-pooling, stride 2, floor (an odd height or width drops its last row or
// column). No scratch: backward spreads a quarter of each output gradient over its window.
// Placed first in a spec, it lets a model read images at half their resolution (what a max-pool
// there would not do: on dark strokes over a light background it keeps the background).
#pragma once

#include "engine/layer.h"

namespace knotnet {

class AvgPoolLayer final : public Layer {
 public:
  // in: (H, W, C) with H, W >= 2.
  AvgPoolLayer(std::string name, Shape in);
  const char* kind() const override { return "avgpool"; }
  std::string describe() const override { return "avgpool 2"; }

 protected:
  void forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                     const StepContext& ctx) override;
};

}  // namespace knotnet
