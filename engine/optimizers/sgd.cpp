// SGD, plain or with (Nesterov) momentum, as Keras 3 defines it (default lr 0.01, momentum 0):
//   momentum 0:  p = p - lr * g
//   momentum m:  v = m * v - lr * g;  p = p + v                (v starts at 0)
//   Nesterov:    v = m * v - lr * g;  p = p + m * v - lr * g
// PyTorch keeps a buffer without the learning rate, buf = m * buf + g (buf = g on the first
// step; dampening 0), and steps p -= lr * buf, or p -= lr * (g + m * buf) with Nesterov. With
// a constant learning rate the two agree (v = -lr * buf); they differ when lr changes during
// a run, since Keras's velocity remembers the old learning rate. Non-obvious choice: plain SGD
// declares no state slot at all, so it costs no memory in the plan.
#include "engine/optimizers/optimizers.h"
#include "engine/optimizers/validate.h"
#include "kernels/cpu/optim.h"

#ifdef KNOTNET_HAVE_CUDA
#include "engine/cuda_context.h"
#include "kernels/cuda/optim.h"
#endif

namespace knotnet::optim {

namespace {

constexpr double kDefaultLr = 0.01;

class Sgd final : public Optimizer {
 public:
  explicit Sgd(const OptimizerConfig& c) : momentum_(c.momentum), nesterov_(c.nesterov) {
    lr_ = resolve_lr(name(), c.lr, kDefaultLr);
    check_unit_interval(name(), "momentum", momentum_);
    KN_CHECK(!nesterov_ || momentum_ > 0, name(), ": nesterov needs momentum > 0, got momentum ", momentum_);
  }
  const char* name() const override { return "sgd"; }
  int state_slots() const override { return momentum_ > 0 ? 1 : 0; }

  void init_state(const std::vector<Tensor>& state) const override {
    check_state_args(name(), state, state_slots());
    for (const Tensor& s : state) fill(name(), s, 0.0);  // the velocity
  }

  void step(const Tensor& params, const Tensor& grads, const std::vector<Tensor>& state, int64_t t) const override {
    const int64_t n = check_step_args(name(), params, grads, state, state_slots(), t);
    if (params.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
      KN_CHECK(params.dtype == DType::f32, name(), ": the CUDA backend computes in f32 only, got ",
               dtype_name(params.dtype));
      const cudaStream_t s = CudaContext::get().compute();
      if (momentum_ > 0)
        cuda::sgd_momentum_step(params.as<float>(), grads.as<float>(), state[0].as<float>(), n, lr_, momentum_,
                                nesterov_, s);
      else
        cuda::sgd_step(params.as<float>(), grads.as<float>(), n, lr_, s);
      return;
#else
      cuda_not_built(name());
#endif
    }
    dispatch_float(params.dtype, [&](auto zero) {
      using T = decltype(zero);
      if (momentum_ > 0)
        cpu::sgd_momentum_step(params.as<T>(), grads.as<T>(), state[0].as<T>(), n, lr_, momentum_, nesterov_);
      else
        cpu::sgd_step(params.as<T>(), grads.as<T>(), n, lr_);
    });
  }

 private:
  double momentum_;
  bool nesterov_;
};

}  // namespace

std::unique_ptr<Optimizer> make_sgd(const OptimizerConfig& config) { return std::make_unique<Sgd>(config); }

}  // namespace knotnet::optim
