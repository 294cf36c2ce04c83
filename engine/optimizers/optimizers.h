// The optimizers' factories, one per file in engine/optimizers/; make_optimizer (declared in
// engine/optimizer.h) picks one by name. Each validates its hyper-parameters and throws a
// message naming itself and the parameter.
#pragma once

#include <memory>

#include "engine/optimizer.h"

namespace knotnet::optim {

std::unique_ptr<Optimizer> make_sgd(const OptimizerConfig& config);
std::unique_ptr<Optimizer> make_adagrad(const OptimizerConfig& config);
std::unique_ptr<Optimizer> make_rmsprop(const OptimizerConfig& config);
std::unique_ptr<Optimizer> make_adam(const OptimizerConfig& config);

}  // namespace knotnet::optim
