// Adam as Keras 3 defines it (defaults: lr 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7):
//   m = m + (g - m) * (1 - beta1);  v = v + (g^2 - v) * (1 - beta2)      (both start at 0)
//   alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)                        (t from 1)
//   p = p - alpha * m / (sqrt(v) + eps)
// eps is the paper's "epsilon hat": added to the root of the uncorrected v. PyTorch (defaults
// eps 1e-8) adds eps to the root of the corrected v_hat = v / (1 - beta2^t):
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps),
// which is Keras's rule with eps replaced by eps * sqrt(1 - beta2^t): the two agree except in
// how much eps damps the first steps. Non-obvious choice: alpha is computed once per step in
// double and the kernel only multiplies, so f32 and f64 runs see the same bias correction.
#include <cmath>

#include "engine/optimizers/optimizers.h"
#include "engine/optimizers/validate.h"
#include "kernels/cpu/optim.h"

#ifdef KNOTNET_HAVE_CUDA
#include "engine/cuda_context.h"
#include "kernels/cuda/optim.h"
#endif

namespace knotnet::optim {

namespace {

constexpr double kDefaultLr = 0.001;

class Adam final : public Optimizer {
 public:
  explicit Adam(const OptimizerConfig& c) : beta1_(c.beta1), beta2_(c.beta2), eps_(c.epsilon) {
    lr_ = resolve_lr(name(), c.lr, kDefaultLr);
    check_unit_interval(name(), "beta1", beta1_);
    check_unit_interval(name(), "beta2", beta2_);
    check_positive(name(), "epsilon", eps_);
  }
  const char* name() const override { return "adam"; }
  int state_slots() const override { return 2; }

  void init_state(const std::vector<Tensor>& state) const override {
    check_state_args(name(), state, state_slots());
    for (const Tensor& s : state) fill(name(), s, 0.0);  // first moment m, second moment v
  }

  void step(const Tensor& params, const Tensor& grads, const std::vector<Tensor>& state, int64_t t) const override {
    const int64_t n = check_step_args(name(), params, grads, state, state_slots(), t);
    const double td = static_cast<double>(t);
    const double alpha = lr_ * std::sqrt(1.0 - std::pow(beta2_, td)) / (1.0 - std::pow(beta1_, td));
    if (params.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
      KN_CHECK(params.dtype == DType::f32, name(), ": the CUDA backend computes in f32 only, got ",
               dtype_name(params.dtype));
      cuda::adam_step(params.as<float>(), grads.as<float>(), state[0].as<float>(), state[1].as<float>(), n, alpha,
                      beta1_, beta2_, eps_, CudaContext::get().compute());
      return;
#else
      cuda_not_built(name());
#endif
    }
    dispatch_float(params.dtype, [&](auto zero) {
      using T = decltype(zero);
      cpu::adam_step(params.as<T>(), grads.as<T>(), state[0].as<T>(), state[1].as<T>(), n, alpha, beta1_, beta2_,
                     eps_);
    });
  }

 private:
  double beta1_;
  double beta2_;
  double eps_;
};

}  // namespace

std::unique_ptr<Optimizer> make_adam(const OptimizerConfig& config) {
  check_unused("adam", config, false, false);
  return std::make_unique<Adam>(config);
}

}  // namespace knotnet::optim
