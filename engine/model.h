// A sequential model built from a spec and a batch size. Construction does all the planning:
// layers are made with shape inference, every buffer (parameters, gradients, optimizer state,
// statistics, activations and their gradients, per-layer scratch, inputs) is declared to one
// MemoryPlan with its lifetime, the plan is finalized and one Arena backs it. After that,
// nothing allocates: train_on_batch and evaluate_on_batch only run kernels on planned views.
//
// On the GPU (ModelOptions::device = cuda) the plan also holds the uint8 image and i32 label
// staging buffers the host copies a batch into, each layer's workspaces (cuDNN, split-K,
// reduction partials: one alive only at the layer's forward step, one only at its backward
// step, so they share memory with whatever is not alive then), and 2 doubles for the loss sums. A step enqueues everything on the compute
// stream, then the copy of its loss sums into a pinned host slot and an event (LossReadback,
// engine/loss_readback.h); the host waits on that event alone (predict_on_batch: on the stream,
// for the probabilities). submit_train_step / collect_step split a step there, so that the
// trainer keeps the next step queued while it waits. Parameters are initialised on the host,
// exactly as on the CPU, and copied over.
// flat_parameters() and the other views are device memory then: read them through
// engine/device_copy.h.
//
// A CUDA model also plans two device staging slots (uint8 images and i32 labels each, lifetime
// always) that the reader's delivery copies batches into on the copy stream (DeviceStaging,
// engine/device_staging.h); train_on_device_batch / evaluate_on_device_batch make the compute
// stream wait on the batch's copy event and convert from the slot. CPU plans have no such slots.
#pragma once

#include <array>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/alloc_policy.h"
#include "engine/arena.h"
#include "engine/conv_choice.h"
#include "engine/device_staging.h"
#include "engine/layer.h"
#include "engine/loss.h"
#include "engine/loss_readback.h"
#include "engine/memory_plan.h"
#include "engine/optimizer.h"
#include "engine/spec.h"
#include "kernels/cpu/tf32.h"

namespace knotnet {

struct ModelOptions {
  int64_t batch = 128;
  Device device = Device::cpu;
  DType dtype = DType::f32;   // f64 for gradient checks and golden tests
  uint64_t seed = 42;         // weight initialisation and dropout masks
  OptimizerConfig optimizer;
  // false: plan only (summary and plan are valid, nothing is allocated, no step may run).
  bool allocate = true;
  // false: no two buffers share memory (the plan's no-reuse layout). Tests compare the two.
  bool reuse_memory = true;
  // CUDA: the most workspace a cuDNN convolution algorithm may ask for. A plan-only CUDA model
  // (allocate = false) cannot ask cuDNN, and reserves this much for it (an upper bound).
  size_t cudnn_workspace_limit = size_t(64) << 20;
  // CUDA: a convolution's cuDNN algorithms may also ask for up to the layer's input, output and
  // filter bytes plus 1 MiB where that is more than the limit. cuDNN's strict-fp32 NHWC
  // algorithm 1 converts the layout through about that much, and runs conv_2 of the seed 2x faster than what fits in
  // 64 MiB (docs/cuda_backend.md, "Second GPU run"). The workspace lives only at the layer's own
  // steps, so the plan lays it over activations that are not alive then. Fitting a budget turns
  // this off before it lowers the limit (engine/budget_fit.h); --alloc growth ignores it.
  bool cudnn_workspace_io_sized = true;
  // CUDA: every convolution on the hand-written implicit GEMM (no cuDNN workspace), whatever
  // its spec line says: the last step of fitting a budget (engine/budget_fit.h).
  bool all_conv_implicit = false;
  // CUDA: let cuDNN's convolutions use TF32 tensor cores (10-bit mantissas in the products).
  // Off by default: strict fp32, as on the CPU. The dense layers' SGEMM and the implicit GEMM are
  // strict fp32 either way.
  bool tf32 = false;
  // CUDA: of the cuDNN algorithms allowed, prefer deterministic ones (the same results run after
  // run) over the heuristics' fastest. bench_step measures what it costs.
  bool cudnn_deterministic = true;
  // CUDA: how convolution algorithms are chosen (engine/conv_choice.h): timed on the plan's
  // buffers when the model is allocated (measured, the default), or cuDNN's heuristics.
  ConvSearch conv_search = ConvSearch::measured;
  // CUDA: run batchnorm -> relu (-> maxpool 2) as one fused layer (engine/layers/
  // fused_bn_relu_pool.h): less memory, fewer passes. false keeps the unfused GPU path, for
  // testing the fused one. The CPU never fuses.
  bool fuse = true;
  // How the arena takes its memory (--alloc), and growth's limit (0: none).
  AllocOptions alloc;
  size_t growth_cap = 0;
  // CPU, f32, for tests: every convolution cuts its operands to TF32 before the products
  // (kernels/cpu/tf32.h), which is what an exact TF32 convolution on the GPU computes. It tells
  // how far the GPU's TF32 step may legitimately stray from the strict-fp32 reference
  // (tests/test_tf32_emulation.cpp).
  cpu::Tf32Rounding cpu_tf32 = cpu::Tf32Rounding::none;
};

class Model {
 public:
  // `input` overrides the spec's input line when it has rank > 0 (e.g. the data's image shape).
  Model(const ModelSpec& spec, const ModelOptions& options, Shape input = Shape{});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Keras-style table: layer, output shape, parameters; then the totals.
  std::string summary() const;
  const MemoryPlan& plan() const { return plan_; }
  // Bytes the arena took from the device or host (0 for a plan-only model): the plan's total
  // under --alloc planned, more under the other policies.
  size_t held_bytes() const { return arena_.held_bytes(); }
  const ModelOptions& options() const { return options_; }
  const ModelSpec& spec() const { return spec_; }
  int64_t batch() const { return options_.batch; }
  const Shape& input_shape() const { return input_; }
  int64_t classes() const { return loss_->classes(); }
  int64_t trainable_count() const { return trainable_; }
  int64_t statistics_count() const { return statistics_; }
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }

  // x: (n, ...input_shape) on the host, n <= batch(): uint8 pixels (scaled by 1/255) or the
  // model's element type (used as is). labels: i32 class indices (n), or targets (n, K) in the
  // model's element type.
  LossResult train_on_batch(const Tensor& x, const Tensor& labels);
  LossResult evaluate_on_batch(const Tensor& x, const Tensor& labels);
  // Class probabilities (n, K) into a host tensor of the model's element type.
  void predict_on_batch(const Tensor& x, const Tensor& probs);

  // A batch already in one of this model's device staging slots (CUDA models only): the compute
  // stream waits on the batch's copy event (no host wait) and converts from the slot, then
  // releases the slot to the copy stream. Otherwise as train_on_batch / evaluate_on_batch.
  LossResult train_on_device_batch(const DeviceBatch& b);
  LossResult evaluate_on_device_batch(const DeviceBatch& b);
  // The same training step split in two, so the GPU never waits for the host: submit queues the
  // whole step (conversion, forward, backward, update, and the copy of its loss sums to the
  // host) and returns at once; collect waits for the oldest submitted step's loss alone and
  // returns it. At most two steps may be in flight: the trainer submits step k+1, fetching its
  // batch while step k runs, before it collects step k. Every other call that runs or reads the
  // model on the GPU (the *_on_batch calls, evaluation) needs none in flight.
  static constexpr int kMaxStepsInFlight = LossReadback::kSlots;
  void submit_train_step(const DeviceBatch& b);
  LossResult collect_step();
  int steps_in_flight() const { return static_cast<int>(in_flight_.size()); }
  // Throws, naming `call`, while a submitted step has not been collected: what `call` reads or
  // writes would belong to a model one or two updates ahead of the steps collected so far.
  void require_no_step_in_flight(const char* call) const;
  // The staging slots that device batches are uploaded into; throws for a CPU or plan-only model.
  DeviceStaging& device_staging();

  // The pieces of train_on_batch, for tests: loss and gradients without an update, then the update.
  LossResult forward_backward(const Tensor& x, const Tensor& labels);
  void apply_update();

  struct Param {
    std::string layer;  // layer name, e.g. "conv_1"
    std::string name;   // "kernel", "bias", ...
    Tensor value;
    Tensor grad;        // empty for statistics
    bool trainable;
  };
  std::vector<Param> parameters() const;
  // Index of a trainable parameter's first element in flat_parameters(); the gradients and the
  // optimizer slots share that layout.
  int64_t flat_offset(const Param& p) const;
  Tensor flat_parameters() const { return arena_.view(plan_, params_id_); }
  Tensor flat_gradients() const { return arena_.view(plan_, grads_id_); }
  Tensor flat_statistics() const;  // empty when the model has none
  const std::vector<Tensor>& optimizer_state() const { return state_views_; }
  Optimizer& optimizer() { return *optimizer_; }
  const Optimizer& optimizer() const { return *optimizer_; }
  // Steps taken; the next update's Adam/bias-correction step number is step_count() + 1.
  int64_t step_count() const { return step_; }
  void set_step_count(int64_t s) {
    require_no_step_in_flight("set_step_count");
    step_ = s;
  }
  // The probabilities of the last forward pass, (batch, K); valid rows: the last batch's n.
  Tensor probabilities() const { return arena_.view(plan_, probs_id_); }

 private:
  void build_layers();
  void fuse_layers();
  void declare_buffers();
  void bind_views();
  void initialise();
  void prepare_device_layers();
  void tune_device_layers();
  void initialise_device();
  void check_images(const Tensor& x, int64_t n) const;
  void load_images(const Tensor& x, int64_t n);
  void load_batch(const Tensor& x, const Tensor& labels, int64_t n);
  void load_labels_device(const Tensor& labels, int64_t n);
  void load_images_device(const Tensor& x, int64_t n);
  void run_forward(int64_t n, const StepContext& ctx);
  // Forward, loss and backward of one batch; on the GPU only enqueued (the result's count is
  // set, the rest comes from finish_step).
  LossResult run_forward_backward(const Tensor& x, const Tensor& labels);
  // The same once the batch's n samples are in the input and target buffers.
  LossResult run_loaded_forward_backward(int64_t n);
  // A device batch into the input and target buffers (enqueued on the compute stream).
  void load_device_batch(const DeviceBatch& b);
  LossResult compute_loss(int64_t n, const Tensor& dlogits);
  LossResult finish_step(const LossResult& pending);
  // Waits for the loss sums copied into readback slot `slot` and makes the result of n samples.
  LossResult read_back(int slot, int64_t n) const;
  bool on_device() const { return options_.device == Device::cuda; }
  int fwd_step(int i) const { return i; }
  int bwd_step(int i) const { return 2 * static_cast<int>(layers_.size() + 1) - 1 - i; }

  ModelSpec spec_;
  ModelOptions options_;
  Shape input_;
  std::vector<std::unique_ptr<Layer>> layers_;
  // Each layer's position in the spec: its parameters' random streams are numbered by it, so a
  // fused GPU model starts from exactly the CPU model's values.
  std::vector<int> spec_index_;
  std::unique_ptr<SoftmaxCrossEntropy> loss_;
  std::unique_ptr<Optimizer> optimizer_;
  // The first layer with trainable parameters: backward runs from the last layer down to it, and
  // it gets no input gradient (an avgpool reading the images comes before it). L-1 if none.
  int first_backward_ = 0;
  int64_t trainable_ = 0;
  int64_t statistics_ = 0;
  int64_t step_ = 0;

  MemoryPlan plan_;
  Arena arena_;
  MemoryPlan::Id input_id_ = -1, targets_id_ = -1, params_id_ = -1, grads_id_ = -1, stats_id_ = -1, probs_id_ = -1;
  std::vector<MemoryPlan::Id> state_ids_;
  std::vector<MemoryPlan::Id> act_ids_;   // storage of each layer's output (aliases share)
  std::vector<MemoryPlan::Id> grad_ids_;  // storage of the gradient of each layer's output
  std::vector<std::vector<MemoryPlan::Id>> scratch_ids_;
  // Views bound once after planning, full batch.
  std::vector<Tensor> acts_, act_grads_, state_views_;
  Tensor input_view_, targets_view_, probs_view_;
  // CUDA only: staging for the host's uint8 images and i32 labels, and the loss sums (loss sum,
  // correct count).
  MemoryPlan::Id input_u8_id_ = -1, labels_id_ = -1, loss_sums_id_ = -1;
  Tensor input_u8_view_, labels_view_, loss_sums_view_;
  // CUDA only: each layer's forward and backward workspace (-1: none).
  std::vector<MemoryPlan::Id> workspace_fwd_ids_, workspace_bwd_ids_;
  // CUDA only: the two staging slots the reader's delivery copies into (images, labels).
  std::array<MemoryPlan::Id, StagingSlots::kCount> staging_images_ids_{-1, -1}, staging_labels_ids_{-1, -1};
  std::unique_ptr<DeviceStaging> staging_;  // after arena_: destroyed (and waited for) first
  std::unique_ptr<LossReadback> readback_;  // CUDA models: the loss sums' way to the host
  struct InFlight {
    int64_t count;  // the batch's samples
    int slot;       // its readback slot
  };
  std::deque<InFlight> in_flight_;  // submitted training steps not yet collected, oldest first
};

}  // namespace knotnet
