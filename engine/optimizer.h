// Optimizers over flat buffers: every trainable parameter of the model lives in one flat buffer
// (P elements), its gradient in another of the same layout, and each optimizer slot (moment,
// accumulator, velocity) in one more. A step is one pass (one kernel launch on the GPU) over
// all P elements. Defaults and update rules follow Keras; where PyTorch differs, the
// implementation says so.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace knotnet {

struct OptimizerConfig {
  std::string name = "adam";  // sgd, adagrad, rmsprop, adam
  double lr = -1;             // < 0: the optimizer's Keras default
  double momentum = 0.0;      // sgd, rmsprop
  bool nesterov = false;      // sgd
  double rho = 0.9;           // rmsprop
  double beta1 = 0.9;         // adam
  double beta2 = 0.999;       // adam
  double epsilon = 1e-7;      // adagrad, rmsprop, adam (Keras's default)
  double initial_accumulator = 0.1;  // adagrad (Keras's default; PyTorch's is 0)
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual const char* name() const = 0;
  // How many parameter-sized state buffers the optimizer needs.
  virtual int state_slots() const = 0;
  // Writes the initial state into freshly planned slot buffers.
  virtual void init_state(const std::vector<Tensor>& state) const = 0;
  // params, grads: (P). state: state_slots() tensors of (P). t: this step's number, from 1.
  virtual void step(const Tensor& params, const Tensor& grads, const std::vector<Tensor>& state, int64_t t) const = 0;

  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }

 protected:
  double lr_ = 0.001;
};

// Throws naming the optimizer for an unknown name or a bad hyper-parameter.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config);
// The names make_optimizer accepts.
std::vector<std::string> optimizer_names();

}  // namespace knotnet
