// dropout RATE: inverted dropout, rate in [0, 1). In training, element k of the (N, ...) batch
// tensor is kept iff random_uniform(seed, fnv1a64(layer name) + step, k) >= rate and scaled by
// 1 / (1 - rate) (kernels/cpu/dropout.h has the exact rule); in inference it is the identity.
// No mask is stored: backward regenerates it from the same seed and step.
#pragma once

#include <cstdint>

#include "engine/layer.h"

namespace knotnet {

class DropoutLayer final : public Layer {
 public:
  DropoutLayer(std::string name, Shape in, double rate);
  const char* kind() const override { return "dropout"; }
  std::string describe() const override;
  double rate() const { return rate_; }
  // The random stream of this layer's mask at a training step.
  uint64_t stream(uint64_t step) const { return name_hash_ + step; }

 protected:
  void forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                     const StepContext& ctx) override;

 private:
  double rate_;
  uint64_t name_hash_;
};

}  // namespace knotnet
