// maxpool 2: 2x2 max-pooling, stride 2, floor (an odd height or width drops its last row or
// column). Forward saves which input of each window was the maximum (a uint8 per output
// element, scratch "argmax") and backward routes each gradient there; ties go to the first
// maximum in the order top-left, top-right, bottom-left, bottom-right.
#pragma once

#include "engine/layer.h"

namespace knotnet {

class MaxPoolLayer final : public Layer {
 public:
  // in: (H, W, C) with H, W >= 2.
  MaxPoolLayer(std::string name, Shape in);
  const char* kind() const override { return "maxpool"; }
  std::string describe() const override { return "maxpool 2"; }
  std::vector<ScratchInfo> scratch_infos(int64_t batch, DType dtype) const override;

 protected:
  void forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                     const StepContext& ctx) override;
};

}  // namespace knotnet
