#include "engine/unit_census.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "engine/device_copy.h"

namespace knotnet {

namespace {

// RMSprop's first slot holds squared gradients: its square root is on the gradient's scale.
bool slot_is_squared(const OptimizerConfig& c) { return c.name == "rmsprop"; }

// The factor the first slot (its square root, where squared) shrinks by on a step with zero
// gradient; 0 when there is no such slot.
double shrink_factor(const OptimizerConfig& c) {
  if (c.name == "adam") return c.beta1;
  if (c.name == "rmsprop") return std::sqrt(c.rho);
  if (c.name == "sgd") return c.momentum;
  return 0;  // adagrad: the accumulator only grows
}

}  // namespace

int64_t silent_window_steps(const OptimizerConfig& config) {
  const double d = shrink_factor(config);
  if (!(d > 0 && d < 1)) return 0;
  const double steps = std::ceil(std::log(kSilentThreshold / 1e-3) / std::log(d));
  return steps > 2000 ? 0 : static_cast<int64_t>(steps);
}

std::vector<UnitCensus> silent_units(const Model& model) {
  std::vector<UnitCensus> out;
  const OptimizerConfig& config = model.options().optimizer;
  if (silent_window_steps(config) == 0 || model.optimizer_state().empty()) return out;
  model.require_no_step_in_flight("silent_units");
  const bool squared = slot_is_squared(config);
  const Tensor& slot = model.optimizer_state()[0];
  const size_t es = dtype_size(slot.dtype);
  std::vector<char> host(slot.bytes());
  copy_to_host(slot, host.data());
  // |slot| at flat index i (its square root where squared), whatever the float type.
  auto magnitude = [&](int64_t i) {
    double v;
    if (slot.dtype == DType::f64) {
      std::memcpy(&v, host.data() + static_cast<size_t>(i) * es, sizeof v);
    } else {
      float f;
      std::memcpy(&f, host.data() + static_cast<size_t>(i) * es, sizeof f);
      v = f;
    }
    return squared ? std::sqrt(std::fabs(v)) : std::fabs(v);
  };

  std::map<std::string, std::string> kinds;
  for (const auto& layer : model.layers()) kinds[layer->name()] = layer->kind();
  // Per unit of each conv and dense layer: the largest |slot| over its kernel and bias entries.
  std::vector<std::pair<std::string, std::vector<double>>> largest;
  for (const Model::Param& p : model.parameters()) {
    if (!p.trainable) continue;
    const std::string& kind = kinds[p.layer];
    if (kind != "conv" && kind != "dense") continue;
    if (largest.empty() || largest.back().first != p.layer) largest.push_back({p.layer, {}});
    std::vector<double>& units = largest.back().second;
    const int64_t first = model.flat_offset(p);
    const int64_t n = p.value.shape.numel();
    // Kernels: conv (out, kh, kw, in), the unit first; dense (in, out), the unit last. Bias: (out).
    const int64_t count = p.name == "kernel" && kind == "conv" ? p.value.shape[0]
                                                               : p.value.shape[p.value.shape.rank() - 1];
    if (units.empty()) units.assign(static_cast<size_t>(count), 0.0);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t unit = p.name == "kernel" && kind == "conv" ? i / (n / count) : i % count;
      double& m = units[static_cast<size_t>(unit)];
      m = std::max(m, magnitude(first + i));
    }
  }
  for (const auto& [layer, units] : largest) {
    UnitCensus c{layer, static_cast<int64_t>(units.size()), 0};
    for (double m : units) c.silent += m < kSilentThreshold;
    out.push_back(c);
  }
  return out;
}

}  // namespace knotnet
