// Adagrad as Keras 3 defines it (defaults: lr 0.001, initial_accumulator_value 0.1,
// epsilon 1e-7):
//   acc = initial_accumulator_value (once);  acc = acc + g^2;  p = p - lr * g / sqrt(acc + eps)
// PyTorch differs in three ways: its accumulator starts at 0, its eps is 1e-10, and eps sits
// outside the root, p -= lr * g / (sqrt(acc) + eps) (as did tf.keras 2's Adagrad). PyTorch's
// Adagrad(initial_accumulator_value=0.1 + 1e-7, eps=0) therefore reproduces Keras 3's exactly,
// up to rounding (the golden test's script uses this). Non-obvious choice: eps must be > 0 even
// though the accumulator starts positive, since initial_accumulator_value 0 is allowed.
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

class Adagrad final : public Optimizer {
 public:
  explicit Adagrad(const OptimizerConfig& c) : initial_(c.initial_accumulator), eps_(c.epsilon) {
    lr_ = resolve_lr(name(), c.lr, kDefaultLr);
    check_non_negative(name(), "initial_accumulator", initial_);
    check_positive(name(), "epsilon", eps_);
  }
  const char* name() const override { return "adagrad"; }
  int state_slots() const override { return 1; }

  void init_state(const std::vector<Tensor>& state) const override {
    check_state_args(name(), state, state_slots());
    fill(name(), state[0], initial_);  // the accumulator of squared gradients
  }

  void step(const Tensor& params, const Tensor& grads, const std::vector<Tensor>& state, int64_t t) const override {
    const int64_t n = check_step_args(name(), params, grads, state, state_slots(), t);
    if (params.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
      KN_CHECK(params.dtype == DType::f32, name(), ": the CUDA backend computes in f32 only, got ",
               dtype_name(params.dtype));
      cuda::adagrad_step(params.as<float>(), grads.as<float>(), state[0].as<float>(), n, lr_, eps_,
                         CudaContext::get().compute());
      return;
#else
      cuda_not_built(name());
#endif
    }
    dispatch_float(params.dtype, [&](auto zero) {
      using T = decltype(zero);
      cpu::adagrad_step(params.as<T>(), grads.as<T>(), state[0].as<T>(), n, lr_, eps_);
    });
  }

 private:
  double initial_;
  double eps_;
};

}  // namespace

std::unique_ptr<Optimizer> make_adagrad(const OptimizerConfig& config) {
  check_unused("adagrad", config, false, false);
  return std::make_unique<Adagrad>(config);
}

}  // namespace knotnet::optim
