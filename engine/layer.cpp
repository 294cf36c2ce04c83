#include "engine/layer.h"

namespace knotnet {

std::string LayerSpec::text() const {
  std::string s = kind;
  for (const auto& a : args) s += " " + a;
  return s;
}

void Layer::bind(std::vector<Tensor> params, std::vector<Tensor> grads, std::vector<Tensor> scratch) {
  auto infos = param_infos();
  KN_CHECK(params.size() == infos.size() && grads.size() == infos.size(), "layer '", name_, "' expects ",
           infos.size(), " parameter tensors, got ", params.size());
  for (size_t i = 0; i < infos.size(); ++i) {
    KN_CHECK(params[i].shape == infos[i].shape, "layer '", name_, "' parameter ", infos[i].name, " should be ",
             infos[i].shape.str(), ", got ", params[i].shape.str());
    KN_CHECK(!infos[i].trainable || grads[i].shape == infos[i].shape, "layer '", name_, "' gradient of ",
             infos[i].name, " should be ", infos[i].shape.str());
  }
  params_ = std::move(params);
  grads_ = std::move(grads);
  scratch_ = std::move(scratch);
}

void Layer::check_batch(const Tensor& t, const Shape& per_sample, const char* what, int64_t n) const {
  KN_CHECK(t.shape.rank() == per_sample.rank() + 1 && t.shape.drop_batch() == per_sample && t.shape[0] == n,
           "layer '", name_, "' (", kind(), "): ", what, " should be ", per_sample.with_batch(n).str(), ", got ",
           t.shape.str());
}

void Layer::forward(const Tensor& x, const Tensor& y, const StepContext& ctx) {
  KN_CHECK(x.shape.rank() >= 1, "layer '", name_, "': input has no batch dimension");
  int64_t n = x.shape[0];
  check_batch(x, in_, "input", n);
  check_batch(y, out_, "output", n);
  KN_CHECK(x.dtype == y.dtype && x.device == y.device, "layer '", name_, "': input ", x.describe(),
           " and output ", y.describe(), " differ in type or device");
  workspace_ = workspace_forward_;
  forward_impl(x, y, ctx);
}

void Layer::backward(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx, const StepContext& ctx) {
  int64_t n = dy.shape.rank() >= 1 ? dy.shape[0] : 0;
  check_batch(dy, out_, "output gradient", n);
  if (needs_input_for_backward() || !x.empty()) check_batch(x, in_, "input", n);
  if (needs_output_for_backward()) check_batch(y, out_, "output", n);
  if (!dx.empty()) {
    check_batch(dx, in_, "input gradient", n);
    KN_CHECK(dx.dtype == dy.dtype && dx.device == dy.device, "layer '", name_, "': gradients differ in type or device");
  }
  workspace_ = workspace_backward_;
  backward_impl(x, y, dy, dx, ctx);
}

}  // namespace knotnet
