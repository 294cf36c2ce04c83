// Checks shared by the optimizers: hyper-parameters at construction, arguments at each step.
// Messages name the optimizer first ("adam: beta1 must be in [0, 1), got 1"), since the user
// chose it by name on a command line or in code.
#include "engine/optimizers/validate.h"

#include <cmath>

#ifdef KNOTNET_HAVE_CUDA
#include "engine/cuda_context.h"
#include "kernels/cuda/convert.h"
#endif

namespace knotnet::optim {

double resolve_lr(const char* optimizer, double config_lr, double default_lr) {
  if (config_lr < 0) return default_lr;
  KN_CHECK(std::isfinite(config_lr) && config_lr > 0, optimizer,
           ": learning rate must be positive (or negative for the default ", default_lr, "), got ", config_lr);
  return config_lr;
}

void check_unit_interval(const char* optimizer, const char* param, double value) {
  KN_CHECK(value >= 0 && value < 1, optimizer, ": ", param, " must be in [0, 1), got ", value);
}

void check_positive(const char* optimizer, const char* param, double value) {
  KN_CHECK(std::isfinite(value) && value > 0, optimizer, ": ", param, " must be positive, got ", value);
}

void check_non_negative(const char* optimizer, const char* param, double value) {
  KN_CHECK(std::isfinite(value) && value >= 0, optimizer, ": ", param, " must be >= 0, got ", value);
}

void check_unused(const char* optimizer, const OptimizerConfig& config, bool uses_momentum, bool uses_nesterov) {
  KN_CHECK(uses_momentum || config.momentum == 0, optimizer, " has no momentum parameter (got momentum ",
           config.momentum, "); momentum applies to sgd and rmsprop");
  KN_CHECK(uses_nesterov || !config.nesterov, optimizer, " has no Nesterov variant; nesterov applies to sgd");
}

namespace {

void check_like(const char* optimizer, const char* what, const Tensor& t, const Tensor& ref) {
  KN_CHECK(t.data != nullptr, optimizer, ": ", what, " is an empty tensor");
  KN_CHECK(t.numel() == ref.numel(), optimizer, ": ", what, " has ", t.numel(), " elements, expected ", ref.numel(),
           " like the parameters");
  KN_CHECK(t.dtype == ref.dtype, optimizer, ": ", what, " is ", dtype_name(t.dtype), ", expected ",
           dtype_name(ref.dtype), " like the parameters");
  KN_CHECK(t.device == ref.device, optimizer, ": ", what, " is on ", device_name(t.device), ", expected ",
           device_name(ref.device), " like the parameters");
}

}  // namespace

int64_t check_step_args(const char* optimizer, const Tensor& params, const Tensor& grads,
                        const std::vector<Tensor>& state, int slots, int64_t t) {
  KN_CHECK(params.data != nullptr, optimizer, ": the parameters are an empty tensor");
  KN_CHECK(params.dtype == DType::f32 || params.dtype == DType::f64, optimizer,
           ": parameters must be f32 or f64, got ", dtype_name(params.dtype));
  check_like(optimizer, "the gradient", grads, params);
  KN_CHECK(static_cast<int>(state.size()) == slots, optimizer, ": expected ", slots, " state buffer(s), got ",
           state.size());
  for (const Tensor& s : state) check_like(optimizer, "a state buffer", s, params);
  KN_CHECK(t >= 1, optimizer, ": step numbers start at 1, got ", t);
  return params.numel();
}

void check_state_args(const char* optimizer, const std::vector<Tensor>& state, int slots) {
  KN_CHECK(static_cast<int>(state.size()) == slots, optimizer, ": expected ", slots, " state buffer(s), got ",
           state.size());
  for (const Tensor& s : state) {
    KN_CHECK(s.data != nullptr, optimizer, ": a state buffer is an empty tensor");
    KN_CHECK(s.dtype == DType::f32 || s.dtype == DType::f64, optimizer, ": state must be f32 or f64, got ",
             dtype_name(s.dtype));
    check_like(optimizer, "a state buffer", s, state.front());
  }
}

void cuda_not_built(const char* optimizer) {
  KN_THROW(optimizer, ": the CUDA backend is not in this build yet; run on the cpu device");
}

void fill(const char* optimizer, const Tensor& t, double value) {
  if (t.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    KN_CHECK(t.dtype == DType::f32, optimizer, ": the CUDA backend computes in f32 only, got ", dtype_name(t.dtype));
    cuda::fill(t.as<float>(), t.numel(), static_cast<float>(value), CudaContext::get().compute());
    return;
#else
    cuda_not_built(optimizer);
#endif
  }
  dispatch_float(t.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* p = t.as<T>();
    const T v = static_cast<T>(value);
    for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = v;
  });
}

}  // namespace knotnet::optim
