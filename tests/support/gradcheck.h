// Finite-difference gradient checks, and a harness that builds one layer from a spec line and
// binds it to buffers the test owns.
//
// The check: central differences in double, numeric_i = (L(v + h e_i) - L(v - h e_i)) / (2h),
// against the analytic gradient, for every entry of the tensor under test. The error of entry i
//   error_i = |analytic_i - numeric_i| / max(|analytic_i|, |numeric_i|, floor)
// is relative for gradients larger than `floor` and absolute (scaled by 1/floor) below it, so
// that entries whose gradient is (nearly) zero do not divide by nothing. With h = 1e-5 and
// smooth layers the error seen is ~1e-9; the default bound is 1e-6 (floor 1e-2). Entries within
// a step of a kink (ReLU at 0, a max-pool tie) are skipped through a predicate, and counted.
//
// For a layer the scalar is a random projection of its output, L = sum_k r_k y_k, so that
// dL/dy = r, and the check covers the input and every trainable parameter.
// KNOTNET_GRADCHECK_VERBOSE=1 in the environment prints every result.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/layer.h"
#include "tests/support/test_support.h"

namespace knotnet::test {

// "conv 4 3 same" -> {line, "conv", {"4", "3", "same"}}.
LayerSpec spec_line(const std::string& text, int line = 1);

struct GradCheckOptions {
  double step = 1e-5;       // h
  double tolerance = 1e-6;  // bound on every error_i
  double floor = 1e-2;      // below this gradient magnitude the error is absolute
};

struct GradCheckResult {
  std::string what;  // "input", "kernel", ...
  int64_t checked = 0;
  int64_t skipped = 0;  // entries within a step of a kink
  double max_error = 0;
  int64_t worst = -1;  // index of the worst entry
  double worst_analytic = 0, worst_numeric = 0;
  bool ok(double tolerance) const { return checked > 0 && max_error <= tolerance; }
  std::string str() const;  // for failure messages
};

// Central differences of loss() with respect to every entry of v (perturbed in place, then
// restored), compared with `analytic` (same size). skip(i) true: entry i is near a kink.
GradCheckResult check_gradient(const std::string& what, std::vector<double>& v, const std::vector<double>& analytic,
                               const std::function<double()>& loss, const GradCheckOptions& options = {},
                               const std::function<bool(int64_t)>& skip = {});

// Fills raw scratch with 0xFF bytes: NaN for floating types, so a read of unwritten data shows.
constexpr unsigned char kPoison = 0xFF;

// One layer made by make_layer from a spec line, bound to std::vector buffers: x (N, ...in),
// y (N, ...out), dy, dx, one vector per parameter and per gradient (empty for non-trainable
// parameters), and raw scratch sized by scratch_infos. Parameters start random (gamma and
// moving_variance in [0.5, 1.5], everything else in [-0.5, 0.5]); x starts in [-1, 1].
template <typename T>
class LayerHarness {
 public:
  LayerHarness(const std::string& spec, Shape in, int64_t batch, uint64_t seed = 1, std::string name = "layer_1")
      : batch_(batch) {
    layer_ = make_layer(spec_line(spec), in, name);
    x = cast(random_values(in.with_batch(batch).numel(), seed));
    y.assign(static_cast<size_t>(layer_->output_shape().with_batch(batch).numel()), T(0));
    dy = cast(random_values(static_cast<int64_t>(y.size()), seed + 1));
    dx.assign(x.size(), T(0));
    auto infos = layer_->param_infos();
    std::vector<Tensor> pv, gv, sv;
    for (size_t i = 0; i < infos.size(); ++i) {
      const ParamInfo& p = infos[i];
      const bool around_one = p.name == "gamma" || p.name == "moving_variance";
      params.push_back(
          cast(random_values(p.shape.numel(), seed + 100 + i, around_one ? 0.5 : -0.5, around_one ? 1.5 : 0.5)));
      grads.emplace_back(p.trainable ? static_cast<size_t>(p.shape.numel()) : 0, T(0));
    }
    for (const ScratchInfo& s : layer_->scratch_infos(batch, dtype_of<T>())) {
      size_t bytes = static_cast<size_t>(s.shape.numel()) * dtype_size(s.dtype);
      scratch.emplace_back((bytes + sizeof(double) - 1) / sizeof(double) + 1);
      std::memset(scratch.back().data(), kPoison, scratch.back().size() * sizeof(double));
      sv.emplace_back(scratch.back().data(), s.shape, s.dtype);
    }
    for (size_t i = 0; i < infos.size(); ++i) {
      pv.emplace_back(params[i].data(), infos[i].shape, dtype_of<T>());
      gv.emplace_back(infos[i].trainable ? Tensor(grads[i].data(), infos[i].shape, dtype_of<T>()) : Tensor());
    }
    layer_->bind(std::move(pv), std::move(gv), std::move(sv));
  }

  Layer& layer() { return *layer_; }
  int64_t batch() const { return batch_; }
  Tensor tx() { return Tensor(x.data(), layer_->input_shape().with_batch(batch_), dtype_of<T>()); }
  Tensor ty() { return Tensor(y.data(), layer_->output_shape().with_batch(batch_), dtype_of<T>()); }
  Tensor tdy() { return Tensor(dy.data(), layer_->output_shape().with_batch(batch_), dtype_of<T>()); }
  Tensor tdx() { return Tensor(dx.data(), layer_->input_shape().with_batch(batch_), dtype_of<T>()); }

  // y is poisoned (NaN) first, so a kernel that leaves part of it unwritten shows.
  void forward(const StepContext& ctx = {}) {
    std::fill(y.begin(), y.end(), nan());
    layer_->forward(tx(), ty(), ctx);
  }
  // dx and the gradients are poisoned first (backward must overwrite them). with_dx false
  // passes an empty dx, as the model does for its first layer.
  void backward(const StepContext& ctx = {}, bool with_dx = true) {
    std::fill(dx.begin(), dx.end(), nan());
    for (auto& g : grads) std::fill(g.begin(), g.end(), nan());
    layer_->backward(tx(), ty(), tdy(), with_dx ? tdx() : Tensor(), ctx);
  }
  // Index of a parameter by name ("kernel", "gamma", ...); throws when absent.
  size_t param_index(const std::string& name) const {
    auto infos = layer_->param_infos();
    for (size_t i = 0; i < infos.size(); ++i)
      if (infos[i].name == name) return i;
    KN_THROW("layer has no parameter '", name, "'");
  }

  std::vector<T> x, y, dy, dx;
  std::vector<std::vector<T>> params, grads;
  std::vector<std::vector<double>> scratch;

 private:
  static T nan() { return std::numeric_limits<T>::quiet_NaN(); }
  static std::vector<T> cast(const std::vector<double>& v) { return std::vector<T>(v.begin(), v.end()); }
  std::unique_ptr<Layer> layer_;
  int64_t batch_;
};

// The full check of a layer in double: runs forward and backward once with dy = a random
// projection r, then compares dx and every trainable parameter's gradient with central
// differences of L = sum_k r_k y_k. skip_input(i): input entry i lies within a step of a kink.
// Returns one result per checked tensor: "input", then the trainable parameters by name.
std::vector<GradCheckResult> check_layer_gradients(LayerHarness<double>& h, const StepContext& ctx = {},
                                                   const GradCheckOptions& options = {},
                                                   const std::function<bool(int64_t)>& skip_input = {});

// True when every value is finite (no NaN left from the poison, no inf).
template <typename T>
bool all_finite(const std::vector<T>& v) {
  for (const T& a : v)
    if (!std::isfinite(a)) return false;
  return true;
}

// Largest |got_i - want_i| / (1 + |want_i|) (absolute for small values, relative for large
// ones): how the tests compare a float kernel with a plain double reference. Sizes must match.
template <typename A, typename B>
double max_scaled_diff(const std::vector<A>& got, const std::vector<B>& want) {
  KN_CHECK(got.size() == want.size(), "comparing ", got.size(), " values with ", want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(static_cast<double>(got[i]) - static_cast<double>(want[i])) /
                     (1.0 + std::abs(static_cast<double>(want[i])));
    if (!(d <= worst)) worst = std::isnan(d) ? INFINITY : d;
  }
  return worst;
}

}  // namespace knotnet::test
