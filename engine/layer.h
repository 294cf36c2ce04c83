// The layer interface. A layer knows its per-sample input and output shapes, declares the
// parameters and scratch buffers it needs (the model puts them in the memory plan), and is then
// bound to views of the arena. Its public forward/backward are non-virtual: they check shapes,
// element types and devices, then call the layer's *_impl, which dispatches to a kernel.
//
// Contract of backward: it OVERWRITES (never accumulates) the parameter gradients and dx.
// dx may be empty (the first layer: no gradient is needed for the model's input).
//
// Devices: scratch_infos() is what the CPU path needs, and CPU plans come from it alone. A CUDA
// model asks device_scratch_infos() instead (default: the same list) and, after
// prepare_device(), device_workspace_bytes(): transient memory a layer needs only inside one
// of its own kernel calls (split-K partials, reduction partials, cuDNN workspace). The model
// declares two such buffers per layer, one alive only at the layer's forward step and one only
// at its backward step, so that the memory plan can lay them over activations that are not
// alive then (a convolution's cuDNN workspace can be hundreds of MiB: docs/memory_budget.md).
// forward() and backward() point `workspace_` at the one for the step (bind_workspace).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/memory_plan.h"
#include "engine/tensor.h"

namespace knotnet {

enum class Mode : uint8_t { train, infer };

// What a forward or backward call needs to know besides its tensors.
struct StepContext {
  Mode mode = Mode::train;
  uint64_t seed = 0;  // the run's seed (dropout masks are a function of seed, step and layer)
  uint64_t step = 0;  // training steps taken before this one
};

enum class Init : uint8_t { zeros, ones, glorot_uniform };

struct ParamInfo {
  std::string name;    // "kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"
  Shape shape;
  Init init = Init::zeros;
  bool trainable = true;  // false: statistics the optimizer never touches (BN running stats)
  int64_t fan_in = 0;     // for glorot_uniform: limit = sqrt(6 / (fan_in + fan_out))
  int64_t fan_out = 0;
};

// When a scratch buffer must hold its contents.
enum class Span : uint8_t {
  forward,               // only inside this layer's forward
  backward,              // only inside this layer's backward
  forward_to_backward,   // written in forward, read in backward (e.g. BN batch mean, pool argmax)
};

struct ScratchInfo {
  std::string name;
  Shape shape;  // full shape, batch included where it applies
  DType dtype;
  Span span;
};

// What a layer may decide for the GPU before the plan is drawn up (CUDA models only).
struct DevicePlan {
  int64_t batch = 0;                 // the planned (largest) batch
  size_t cudnn_workspace_limit = 0;  // the most workspace a cuDNN algorithm may ask for
  // true: a convolution's cuDNN algorithms may also ask for up to its input, output and filter
  // bytes plus 1 MiB, if that is more than the limit (ModelOptions::cudnn_workspace_io_sized).
  bool cudnn_workspace_io_sized = false;
  // true: a CUDA context exists, so libraries (cuDNN) may be asked for their algorithms and
  // workspace. false (a plan-only model on a machine without a GPU): reserve upper bounds.
  bool query_library = false;
  // true: convolutions run on the hand-written implicit GEMM, not cuDNN (fitting a budget).
  bool force_implicit_conv = false;
  bool tf32 = false;                 // cuDNN convolutions may use TF32 tensor cores
  bool cudnn_deterministic = true;   // prefer cuDNN's deterministic algorithms (ModelOptions)
  // Convolutions will be timed in tune_device (ConvSearch::measured): plan the workspace for any
  // algorithm under the limit, not only for the heuristics' choice.
  bool measure_conv = false;
  bool needs_input_grad = true;      // false for the first layer (nobody reads its dx)
};

// A layer's step buffers at the planned batch, handed to tune_device once the plan is allocated
// and before the first step, when they hold nothing yet.
struct DeviceTuning {
  Tensor x, y, dy;
  Tensor dx;  // empty for the first layer (nobody reads its dx)
};

class Layer {
 public:
  // `in` is the per-sample input shape: (H, W, C) or (F).
  Layer(std::string name, Shape in) : name_(std::move(name)), in_(in), out_(in) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const std::string& name() const { return name_; }
  virtual const char* kind() const = 0;     // "conv", "batchnorm", ...
  virtual std::string describe() const = 0;  // the spec line, e.g. "conv 64 3 valid"
  const Shape& input_shape() const { return in_; }
  const Shape& output_shape() const { return out_; }

  virtual std::vector<ParamInfo> param_infos() const { return {}; }
  // Scratch for a batch of `batch` samples, at element type `dtype`.
  virtual std::vector<ScratchInfo> scratch_infos(int64_t batch, DType dtype) const { return {}; }
  // The CUDA path's scratch (the CPU path's by default). Same spans and binding order as above.
  virtual std::vector<ScratchInfo> device_scratch_infos(int64_t batch, DType dtype, Device device) const {
    return scratch_infos(batch, dtype);
  }
  // Called once by a CUDA model before planning (conv chooses its cuDNN algorithms here).
  virtual void prepare_device(const DevicePlan& plan) {}
  // Called once by an allocated CUDA model after binding and before initialising: a layer may
  // time its GPU algorithms here on its own buffers and its workspaces (overwriting its outputs
  // and gradients, which initialisation then sets). Nothing to choose by default.
  virtual void tune_device(const DeviceTuning& t) {}
  // Bytes of workspace this layer needs on `device` at any batch up to `batch`, in its forward
  // and again in its backward (valid after prepare_device). 0: none.
  virtual size_t device_workspace_bytes(int64_t batch, Device device) const { return 0; }
  // What a plan-only model (made without a GPU, which the budget is checked against) reserves
  // for that workspace: at least device_workspace_bytes. Differs where the library is asked only
  // by an allocating model (cuDNN's heuristics choose an algorithm needing less than the limit).
  virtual size_t device_workspace_reserve(int64_t batch, Device device) const {
    return device_workspace_bytes(batch, device);
  }
  virtual bool needs_input_for_backward() const { return false; }
  virtual bool needs_output_for_backward() const { return false; }
  // True when the output is the input under another shape (flatten): no buffer of its own,
  // and backward is the identity on the same memory.
  virtual bool output_aliases_input() const { return false; }

  // params: one view per param_infos() entry, in order. grads: one per entry, empty for
  // non-trainable ones. scratch: one per scratch_infos() entry, in order.
  void bind(std::vector<Tensor> params, std::vector<Tensor> grads, std::vector<Tensor> scratch);
  // The layer's workspaces for its forward and its backward step (CUDA models; empty on the CPU).
  void bind_workspace(Tensor forward, Tensor backward) {
    workspace_forward_ = forward;
    workspace_backward_ = backward;
  }
  const std::vector<Tensor>& params() const { return params_; }
  const std::vector<Tensor>& grads() const { return grads_; }

  // x: (N, ...input_shape), y: (N, ...output_shape), N <= the planned batch.
  void forward(const Tensor& x, const Tensor& y, const StepContext& ctx);
  // dy: gradient of the loss wrt y; dx: wrt x (may be empty).
  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx, const StepContext& ctx);

 protected:
  void set_output_shape(Shape s) { out_ = s; }
  virtual void forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) = 0;
  virtual void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                             const StepContext& ctx) = 0;

  std::vector<Tensor> params_;
  std::vector<Tensor> grads_;
  std::vector<Tensor> scratch_;
  Tensor workspace_;  // the running step's: workspace_forward_ in forward, workspace_backward_ in backward
  Tensor workspace_forward_, workspace_backward_;

 private:
  void check_batch(const Tensor& t, const Shape& per_sample, const char* what, int64_t n) const;
  std::string name_;
  Shape in_;
  Shape out_;
};

// One line of a model spec, e.g. {line 3, "conv", {"64", "3", "valid"}}.
struct LayerSpec {
  int line = 0;
  std::string kind;
  std::vector<std::string> args;
  std::string text() const;  // "conv 64 3 valid"
};

// Builds the layer a spec line names, for the given per-sample input shape. Throws an Error
// naming the line for an unknown kind, a bad argument, or a shape the layer cannot take.
// "softmax" is not a Layer (the model fuses it with the loss) and is rejected here.
std::unique_ptr<Layer> make_layer(const LayerSpec& spec, const Shape& input, const std::string& name);

}  // namespace knotnet
