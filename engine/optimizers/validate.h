// Checks shared by the optimizers: hyper-parameters when one is made (each message names the
// optimizer and the parameter), and step()/init_state() arguments on every call. The one
// non-obvious choice: the argument checks only compare sizes, types and devices, so they cost
// nothing per element and never allocate unless they throw.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/optimizer.h"
#include "engine/tensor.h"

namespace knotnet::optim {

// The learning rate to use: `default_lr` when config_lr < 0, else config_lr, which must be
// finite and positive.
double resolve_lr(const char* optimizer, double config_lr, double default_lr);
// value in [0, 1).
void check_unit_interval(const char* optimizer, const char* param, double value);
// value finite and > 0.
void check_positive(const char* optimizer, const char* param, double value);
// value finite and >= 0.
void check_non_negative(const char* optimizer, const char* param, double value);
// Rejects a setting the optimizer does not have (e.g. momentum for adam) instead of ignoring it.
void check_unused(const char* optimizer, const OptimizerConfig& config, bool uses_momentum, bool uses_nesterov);

// params, grads: (P) of one floating-point type on one device; state: `slots` tensors like
// params; t >= 1. Returns P.
int64_t check_step_args(const char* optimizer, const Tensor& params, const Tensor& grads,
                        const std::vector<Tensor>& state, int slots, int64_t t);
// state: `slots` tensors of one floating-point type on one device, all of the same size.
void check_state_args(const char* optimizer, const std::vector<Tensor>& state, int slots);
// Throws: the CUDA backend is not in this build yet.
[[noreturn]] void cuda_not_built(const char* optimizer);
// Fills a state tensor of floating-point type with `value` (host memory only in this build).
void fill(const char* optimizer, const Tensor& t, double value);

}  // namespace knotnet::optim
