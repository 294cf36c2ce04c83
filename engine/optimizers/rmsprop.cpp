// RMSprop as Keras 3 defines it, uncentered (defaults: lr 0.001, rho 0.9, momentum 0,
// epsilon 1e-7):
//   ms = rho * ms + (1 - rho) * g^2                     (ms starts at 0)
//   inc = lr * g / sqrt(ms + eps)
//   momentum 0: p = p - inc;   momentum m: mom = m * mom + inc; p = p - mom   (mom starts at 0)
// PyTorch's RMSprop (defaults lr 0.01, alpha 0.99, eps 1e-8) puts eps outside the root,
// g / (sqrt(ms) + eps), and keeps its momentum buffer without the learning rate,
// buf = m * buf + g / (sqrt(ms) + eps), p -= lr * buf (the same as Keras's for a constant lr).
// Non-obvious choice: the momentum slot exists only when momentum > 0, as in Keras, so the
// default RMSprop plans one state buffer, not two.
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

class Rmsprop final : public Optimizer {
 public:
  explicit Rmsprop(const OptimizerConfig& c) : rho_(c.rho), momentum_(c.momentum), eps_(c.epsilon) {
    lr_ = resolve_lr(name(), c.lr, kDefaultLr);
    check_unit_interval(name(), "rho", rho_);
    check_unit_interval(name(), "momentum", momentum_);
    check_positive(name(), "epsilon", eps_);
  }
  const char* name() const override { return "rmsprop"; }
  int state_slots() const override { return momentum_ > 0 ? 2 : 1; }

  void init_state(const std::vector<Tensor>& state) const override {
    check_state_args(name(), state, state_slots());
    for (const Tensor& s : state) fill(name(), s, 0.0);  // mean square, then momentum if any
  }

  void step(const Tensor& params, const Tensor& grads, const std::vector<Tensor>& state, int64_t t) const override {
    const int64_t n = check_step_args(name(), params, grads, state, state_slots(), t);
    if (params.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
      KN_CHECK(params.dtype == DType::f32, name(), ": the CUDA backend computes in f32 only, got ",
               dtype_name(params.dtype));
      cuda::rmsprop_step(params.as<float>(), grads.as<float>(), state[0].as<float>(),
                         momentum_ > 0 ? state[1].as<float>() : nullptr, n, lr_, rho_, momentum_, eps_,
                         CudaContext::get().compute());
      return;
#else
      cuda_not_built(name());
#endif
    }
    dispatch_float(params.dtype, [&](auto zero) {
      using T = decltype(zero);
      T* mom = momentum_ > 0 ? state[1].as<T>() : nullptr;
      cpu::rmsprop_step(params.as<T>(), grads.as<T>(), state[0].as<T>(), mom, n, lr_, rho_, momentum_, eps_);
    });
  }

 private:
  double rho_;
  double momentum_;
  double eps_;
};

}  // namespace

std::unique_ptr<Optimizer> make_rmsprop(const OptimizerConfig& config) {
  check_unused("rmsprop", config, true, false);
  return std::make_unique<Rmsprop>(config);
}

}  // namespace knotnet::optim
