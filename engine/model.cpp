#include "engine/model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>

#include "engine/cuda_context.h"
#include "engine/device_copy.h"
#include "engine/layers/conv.h"
#include "engine/layers/fused_bn_relu_pool.h"
#include "engine/rng.h"
#include "kernels/cpu/convert.h"

#ifdef KNOTNET_HAVE_CUDA
#include "kernels/cuda/convert.h"
#endif

namespace knotnet {

Model::Model(const ModelSpec& spec, const ModelOptions& options, Shape input)
    : spec_(spec), options_(options), input_(input.rank() > 0 ? input : spec.input) {
  KN_CHECK(options_.batch > 0, "batch size must be positive, got ", options_.batch);
  KN_CHECK(options_.dtype == DType::f32 || options_.dtype == DType::f64, "a model computes in f32 or f64, not ",
           dtype_name(options_.dtype));
  KN_CHECK(options_.device == Device::cpu || options_.dtype == DType::f32, "the CUDA backend computes in f32 only");
#ifdef KNOTNET_HAVE_CUDA
  // The context first, so that it is made (and measured) by CudaContext and not implicitly by the
  // arena's first cudaMalloc (a model without cuDNN convolutions would not ask for it before).
  if (on_device() && options_.allocate) CudaContext::get();
#endif
  build_layers();
  if (options_.cpu_tf32 != cpu::Tf32Rounding::none) {
    KN_CHECK(!on_device() && options_.dtype == DType::f32, "TF32 emulation (ModelOptions::cpu_tf32) is for f32 models "
             "on the CPU");
    for (const auto& l : layers_)
      if (auto* conv = dynamic_cast<ConvLayer*>(l.get())) conv->emulate_tf32(options_.cpu_tf32);
  }
  if (on_device()) prepare_device_layers();
  optimizer_ = make_optimizer(options_.optimizer);
  declare_buffers();
  plan_.finalize(options_.reuse_memory);
  if (!options_.allocate) return;
  // preallocate and fraction=F size their block from the card (the arena refuses them without one).
  const bool sized_by_card =
      options_.alloc.policy == AllocPolicy::preallocate || options_.alloc.policy == AllocPolicy::fraction;
  arena_ = Arena(plan_, memory_resource(options_.device), options_.alloc,
                 on_device() && sized_by_card ? query_device_memory() : DeviceMemory{}, options_.growth_cap);
  bind_views();
  if (on_device()) tune_device_layers();
  initialise();
}

Model::~Model() = default;

// Layers choose their GPU algorithms before planning. A model that will allocate asks cuDNN
// (it needs a GPU anyway); a plan-only one does not, so that `plan --device cuda` works without
// a GPU and its totals depend only on the batch (an upper bound on the allocating model's).
void Model::prepare_device_layers() {
  for (size_t i = 0; i < layers_.size(); ++i) {
    DevicePlan dp;
    dp.batch = options_.batch;
    dp.cudnn_workspace_limit = options_.cudnn_workspace_limit;
    // --alloc growth gives every buffer its own allocation, so workspaces sized by each
    // convolution's input and output would only add up there (see declare_buffers).
    dp.cudnn_workspace_io_sized = options_.cudnn_workspace_io_sized && options_.alloc.policy != AllocPolicy::growth;
    dp.query_library = options_.allocate;
    dp.needs_input_grad = static_cast<int>(i) > first_backward_;
    dp.force_implicit_conv = options_.all_conv_implicit;
    dp.tf32 = options_.tf32;
    dp.cudnn_deterministic = options_.cudnn_deterministic;
    dp.measure_conv = options_.conv_search == ConvSearch::measured;
    layers_[i]->prepare_device(dp);
  }
}

// Layers that time their algorithms do it on the step's own buffers at the planned batch, before
// initialise() sets the parameters and zeroes the gradients they overwrite.
void Model::tune_device_layers() {
  const int64_t B = options_.batch;
  for (size_t i = 0; i < layers_.size(); ++i) {
    DeviceTuning t;
    t.x = (i == 0 ? input_view_ : acts_[i - 1]).first(B);
    t.y = acts_[i].first(B);
    const int k = static_cast<int>(i);
    if (k >= first_backward_) t.dy = act_grads_[i].first(B);
    if (k > first_backward_) t.dx = act_grads_[i - 1].first(B);
    layers_[i]->tune_device(t);
  }
}

void Model::build_layers() {
  Shape shape = input_;
  std::map<std::string, int> counts;
  for (const LayerSpec& ls : spec_.layers) {
    if (ls.kind == "softmax") {
      KN_CHECK(ls.args.empty(), spec_.origin, " line ", ls.line, ": 'softmax' takes no arguments");
      KN_CHECK(shape.rank() == 1, spec_.origin, " line ", ls.line, ": softmax needs flat features (N, K), got ",
               shape.str(), " per sample; add 'flatten' and 'dense K' before it");
      KN_CHECK(shape[0] >= 2, spec_.origin, " line ", ls.line, ": softmax needs at least 2 classes, got ", shape[0]);
      loss_ = std::make_unique<SoftmaxCrossEntropy>(shape[0]);
      break;
    }
    std::string name = ls.kind + "_" + std::to_string(++counts[ls.kind]);
    try {
      layers_.push_back(make_layer(ls, shape, name));
    } catch (const Error& e) {
      std::string what = e.what();
      // Messages from make_layer already name the line; add the spec's origin.
      throw Error(spec_.origin + ": " + what, e.file(), e.line());
    }
    shape = layers_.back()->output_shape();
  }
  KN_CHECK(loss_, spec_.origin, ": the last layer must be 'softmax'");
  KN_CHECK(!layers_.empty(), spec_.origin, ": the model has no layers before softmax");
  spec_index_.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) spec_index_[i] = static_cast<int>(i);
  if (on_device() && options_.fuse) fuse_layers();
  // Backward's work starts at the first layer with something to learn: the layers before it (an
  // avgpool reading the images) have no gradient to compute and nobody upstream to pass one to.
  first_backward_ = static_cast<int>(layers_.size()) - 1;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto infos = layers_[i]->param_infos();
    if (std::any_of(infos.begin(), infos.end(), [](const ParamInfo& p) { return p.trainable; })) {
      first_backward_ = static_cast<int>(i);
      break;
    }
  }
}

// batchnorm -> relu (-> maxpool 2) become one FusedBnReluPoolLayer (GPU models only).
void Model::fuse_layers() {
  std::vector<std::unique_ptr<Layer>> fused;
  std::vector<int> index;
  for (size_t i = 0; i < layers_.size();) {
    bool pool = false;
    if (FusedBnReluPoolLayer::fusable_at(layers_, i, pool)) {
      fused.push_back(std::make_unique<FusedBnReluPoolLayer>(static_cast<const BatchNormLayer&>(*layers_[i]), pool));
      index.push_back(spec_index_[i]);
      i += pool ? 3 : 2;
    } else {
      fused.push_back(std::move(layers_[i]));
      index.push_back(spec_index_[i]);
      ++i;
    }
  }
  layers_ = std::move(fused);
  spec_index_ = std::move(index);
}

void Model::declare_buffers() {
  const int64_t B = options_.batch;
  const DType dt = options_.dtype;
  const int L = static_cast<int>(layers_.size());
  const int loss_step = L;  // the loss is the (L+1)-th "layer"

  // Parameters, gradients, statistics and optimizer state: flat, persistent.
  for (const auto& layer : layers_)
    for (const ParamInfo& p : layer->param_infos()) (p.trainable ? trainable_ : statistics_) += p.shape.numel();
  params_id_ = plan_.declare("parameters", Role::parameter, Shape{trainable_}, dt, Lifetime::always());
  grads_id_ = plan_.declare("gradients", Role::gradient, Shape{trainable_}, dt, Lifetime::always());
  if (statistics_ > 0)
    stats_id_ = plan_.declare("statistics", Role::statistics, Shape{statistics_}, dt, Lifetime::always());
  for (int s = 0; s < optimizer_->state_slots(); ++s)
    state_ids_.push_back(plan_.declare(std::string(optimizer_->name()) + "_state" + std::to_string(s),
                                       Role::optimizer_state, Shape{trainable_}, dt, Lifetime::always()));

  // The batch: images as the model's element type, targets as (B, K).
  input_id_ = plan_.declare("input", Role::input, input_.with_batch(B), dt, Lifetime::at(0));
  targets_id_ = plan_.declare("targets", Role::input, Shape{B, classes()}, dt, {0, bwd_step(loss_step)});

  // Activations: the output of layer i is written at forward i and read by forward i+1; it
  // lives on to backward i+1 if that layer needs its input, and to backward i if layer i needs
  // its output. A layer whose output aliases its input (flatten) shares its input's storage.
  auto extend = [&](MemoryPlan::Id id, int step) { plan_.extend(id, Lifetime::at(step)); };
  act_ids_.assign(L, -1);
  for (int i = 0; i < L; ++i) {
    MemoryPlan::Id in_id = i == 0 ? input_id_ : act_ids_[i - 1];
    const bool backward = i >= first_backward_;
    if (backward && layers_[i]->needs_input_for_backward()) extend(in_id, bwd_step(i));
    if (layers_[i]->output_aliases_input()) {
      act_ids_[i] = in_id;
      extend(in_id, fwd_step(i + 1));
    } else {
      act_ids_[i] = plan_.declare(layers_[i]->name() + ".out", Role::activation,
                                  layers_[i]->output_shape().with_batch(B), dt, {fwd_step(i), fwd_step(i + 1)});
    }
    if (backward && layers_[i]->needs_output_for_backward()) extend(act_ids_[i], bwd_step(i));
  }
  // The probabilities outlive backward, so that probabilities() still holds the last forward
  // pass's output after forward_backward and train_on_batch (as model.h promises).
  probs_id_ = plan_.declare("probabilities", Role::activation, Shape{B, classes()}, dt,
                            {fwd_step(loss_step), Lifetime::kForever});

  // Gradients of activations: the gradient of layer i's output is written by backward i+1 (the
  // loss for the last layer) and read by backward i. The input of layer first_backward_ needs no
  // gradient (nor does anything before it).
  grad_ids_.assign(L, -1);
  for (int i = L - 1; i >= first_backward_; --i) {
    Lifetime life{bwd_step(i + 1), bwd_step(i)};
    if (i + 1 < L && layers_[i + 1]->output_aliases_input()) {
      grad_ids_[i] = grad_ids_[i + 1];
      plan_.extend(grad_ids_[i], life);
    } else {
      grad_ids_[i] = plan_.declare(layers_[i]->name() + ".grad", Role::activation_grad,
                                   layers_[i]->output_shape().with_batch(B), dt, life);
    }
  }

  // Per-layer scratch.
  scratch_ids_.resize(L);
  for (int i = 0; i < L; ++i) {
    for (const ScratchInfo& s : layers_[i]->device_scratch_infos(B, dt, options_.device)) {
      Lifetime life = s.span == Span::forward    ? Lifetime::at(fwd_step(i))
                      : s.span == Span::backward ? Lifetime::at(bwd_step(i))
                                                 : Lifetime{fwd_step(i), bwd_step(i)};
      Role role = s.span == Span::forward_to_backward ? Role::saved : Role::scratch;
      scratch_ids_[i].push_back(plan_.declare(layers_[i]->name() + "." + s.name, role, s.shape, s.dtype, life));
    }
  }
  if (!on_device()) return;

  // GPU only. Each layer's workspace, twice: alive at its forward step, and at its backward step
  // (a workspace holds nothing from one kernel call to the next). Between the two, the memory
  // serves other buffers; the optimizer needs none. Under --alloc growth, where every buffer is
  // its own allocation and nothing is shared, one workspace as large as the largest need serves
  // every layer all step instead (a framework's cached cuDNN workspace).
  workspace_fwd_ids_.assign(L, -1);
  workspace_bwd_ids_.assign(L, -1);
  // The plan-only model's sizes are reserved too (MemoryPlan::reserve): this plan's total never
  // exceeds the one the budget was checked against, whatever smaller sizes cuDNN asked for.
  std::vector<size_t> need(L), reserve(L);
  for (int i = 0; i < L; ++i) {
    need[i] = layers_[i]->device_workspace_bytes(B, options_.device);
    reserve[i] = layers_[i]->device_workspace_reserve(B, options_.device);
  }
  const bool shared = options_.alloc.policy == AllocPolicy::growth;
  MemoryPlan::Id shared_id = -1;
  if (const size_t most = L == 0 ? 0 : *std::max_element(reserve.begin(), reserve.end()); shared && most > 0) {
    shared_id = plan_.declare("workspace", Role::workspace,
                              Shape{static_cast<int64_t>(*std::max_element(need.begin(), need.end()))}, DType::u8,
                              {fwd_step(0), bwd_step(0)});
    plan_.reserve(shared_id, most);
  }
  for (int i = 0; i < L; ++i) {
    if (reserve[i] == 0) continue;  // (a buffer of 0 bytes where only the reserve is not 0)
    if (shared) {
      workspace_fwd_ids_[i] = workspace_bwd_ids_[i] = shared_id;
      continue;
    }
    const Shape shape{static_cast<int64_t>(need[i])};
    workspace_fwd_ids_[i] = plan_.declare(layers_[i]->name() + ".workspace_fwd", Role::workspace, shape, DType::u8,
                                          Lifetime::at(fwd_step(i)));
    workspace_bwd_ids_[i] = plan_.declare(layers_[i]->name() + ".workspace_bwd", Role::workspace, shape, DType::u8,
                                          Lifetime::at(bwd_step(i)));
    plan_.reserve(workspace_fwd_ids_[i], reserve[i]);
    plan_.reserve(workspace_bwd_ids_[i], reserve[i]);
  }
  // The host's batch lands here before the device converts it (uint8 -> float, index -> one-hot).
  input_u8_id_ = plan_.declare("input_u8", Role::input, input_.with_batch(B), DType::u8, Lifetime::at(0));
  labels_id_ = plan_.declare("labels", Role::input, Shape{B}, DType::i32, Lifetime::at(0));
  // The reader's delivery copies into these on the copy stream while a step computes: two slots,
  // alive for the whole run (the events in DeviceStaging order each slot's reuse).
  for (int s = 0; s < StagingSlots::kCount; ++s) {
    const std::string name = "staging" + std::to_string(s);
    staging_images_ids_[s] = plan_.declare(name + ".images", Role::input, input_.with_batch(B), DType::u8, Lifetime::always());
    staging_labels_ids_[s] = plan_.declare(name + ".labels", Role::input, Shape{B}, DType::i32, Lifetime::always());
  }
  // Loss sum and correct count, read back by the host at the end of each step.
  loss_sums_id_ = plan_.declare("loss_sums", Role::output, Shape{2}, DType::f64, Lifetime::always());
}

void Model::bind_views() {
  const int L = static_cast<int>(layers_.size());
  Tensor flat_p = arena_.view(plan_, params_id_);
  Tensor flat_g = arena_.view(plan_, grads_id_);
  Tensor flat_s = flat_statistics();
  int64_t p_off = 0, s_off = 0;
  const size_t es = dtype_size(options_.dtype);
  for (int i = 0; i < L; ++i) {
    std::vector<Tensor> params, grads, scratch;
    for (const ParamInfo& p : layers_[i]->param_infos()) {
      if (p.trainable) {
        params.emplace_back(static_cast<char*>(flat_p.data) + p_off * es, p.shape, options_.dtype, options_.device);
        grads.emplace_back(static_cast<char*>(flat_g.data) + p_off * es, p.shape, options_.dtype, options_.device);
        p_off += p.shape.numel();
      } else {
        params.emplace_back(static_cast<char*>(flat_s.data) + s_off * es, p.shape, options_.dtype, options_.device);
        grads.emplace_back();
        s_off += p.shape.numel();
      }
    }
    for (MemoryPlan::Id id : scratch_ids_[i]) scratch.push_back(arena_.view(plan_, id));
    layers_[i]->bind(std::move(params), std::move(grads), std::move(scratch));
  }
  const int64_t B = options_.batch;
  for (int i = 0; i < L; ++i) {
    acts_.push_back(arena_.view(plan_, act_ids_[i]).reshaped(layers_[i]->output_shape().with_batch(B)));
    act_grads_.push_back(grad_ids_[i] < 0 ? Tensor()
                                          : arena_.view(plan_, grad_ids_[i]).reshaped(layers_[i]->output_shape().with_batch(B)));
  }
  for (MemoryPlan::Id id : state_ids_) state_views_.push_back(arena_.view(plan_, id));
  input_view_ = arena_.view(plan_, input_id_);
  targets_view_ = arena_.view(plan_, targets_id_);
  probs_view_ = arena_.view(plan_, probs_id_);
  if (!on_device()) return;
  for (int i = 0; i < L; ++i) {
    if (workspace_fwd_ids_[i] < 0) continue;
    layers_[i]->bind_workspace(arena_.view(plan_, workspace_fwd_ids_[i]), arena_.view(plan_, workspace_bwd_ids_[i]));
  }
  input_u8_view_ = arena_.view(plan_, input_u8_id_);
  labels_view_ = arena_.view(plan_, labels_id_);
  loss_sums_view_ = arena_.view(plan_, loss_sums_id_);
  std::array<Tensor, StagingSlots::kCount> staged_images, staged_labels;
  for (int s = 0; s < StagingSlots::kCount; ++s) {
    staged_images[s] = arena_.view(plan_, staging_images_ids_[s]);
    staged_labels[s] = arena_.view(plan_, staging_labels_ids_[s]);
  }
  staging_ = std::make_unique<DeviceStaging>(staged_images, staged_labels, classes());
  readback_ = std::make_unique<LossReadback>();
}

Tensor Model::flat_statistics() const { return stats_id_ >= 0 ? arena_.view(plan_, stats_id_) : Tensor(); }

namespace {

// Writes parameter p's initial values into t (host memory). stream: the parameter's own random
// stream, (layer index << 16) | parameter index.
void init_param(const ParamInfo& p, const Tensor& t, uint64_t seed, uint64_t stream, const std::string& layer) {
  dispatch_float(t.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* v = t.as<T>();
    const int64_t n = t.numel();
    if (p.init == Init::glorot_uniform) {
      KN_CHECK(p.fan_in + p.fan_out > 0, "layer '", layer, "' ", p.name, " has no fan-in/out");
      double limit = std::sqrt(6.0 / static_cast<double>(p.fan_in + p.fan_out));
      for (int64_t k = 0; k < n; ++k)
        v[k] = static_cast<T>((2.0 * random_uniform_double(seed, stream, k) - 1.0) * limit);
    } else {
      T fill = p.init == Init::ones ? T(1) : T(0);
      for (int64_t k = 0; k < n; ++k) v[k] = fill;
    }
  });
}

}  // namespace

// Keras's initialisers: glorot_uniform kernels, zero biases and betas, unit gammas, running
// mean 0 and variance 1. Each parameter draws from its own counter-based stream, so a value
// depends only on the seed, the layer, the parameter and the element.
void Model::initialise() {
  if (on_device()) {
    initialise_device();
    return;
  }
  for (size_t li = 0; li < layers_.size(); ++li) {
    auto infos = layers_[li]->param_infos();
    for (size_t pi = 0; pi < infos.size(); ++pi) {
      uint64_t stream = (static_cast<uint64_t>(spec_index_[li]) << 16) | pi;
      init_param(infos[pi], layers_[li]->params()[pi], options_.seed, stream, layers_[li]->name());
    }
  }
  // Gradients start at zero so that a model that never ran backward has defined gradients.
  std::memset(flat_gradients().data, 0, flat_gradients().bytes());
  optimizer_->init_state(optimizer_state());
}

// The GPU model starts from the CPU's exact values: they are computed on the host into copies
// of the flat buffers (same layout, same offsets) and copied over.
void Model::initialise_device() {
  const Tensor flat_p = flat_parameters(), flat_s = flat_statistics();
  std::vector<char> host_p(flat_p.bytes()), host_s(flat_s.empty() ? 0 : flat_s.bytes());
  for (size_t li = 0; li < layers_.size(); ++li) {
    auto infos = layers_[li]->param_infos();
    for (size_t pi = 0; pi < infos.size(); ++pi) {
      const Tensor& dev = layers_[li]->params()[pi];
      const Tensor& flat = infos[pi].trainable ? flat_p : flat_s;
      char* host = infos[pi].trainable ? host_p.data() : host_s.data();
      const auto offset = static_cast<const char*>(dev.data) - static_cast<const char*>(flat.data);
      const Tensor twin(host + offset, dev.shape, dev.dtype, Device::cpu);
      uint64_t stream = (static_cast<uint64_t>(spec_index_[li]) << 16) | pi;
      init_param(infos[pi], twin, options_.seed, stream, layers_[li]->name());
    }
  }
  copy_from_host_async(host_p.data(), flat_p);
  if (!flat_s.empty()) copy_from_host_async(host_s.data(), flat_s);
  zero_fill_async(flat_gradients());
  optimizer_->init_state(optimizer_state());
  wait_compute(options_.device);  // host_p and host_s go out of scope
}

void Model::check_images(const Tensor& x, int64_t n) const {
  KN_CHECK(arena_.allocated(), "this model was built to plan only (ModelOptions::allocate = false)");
  KN_CHECK(x.device == Device::cpu, "batches are given in host memory");
  KN_CHECK(n > 0 && n <= options_.batch, "a batch of ", n, " samples does not fit the planned batch size ",
           options_.batch);
  KN_CHECK(x.shape == input_.with_batch(n), "images should be ", input_.with_batch(n).str(), ", got ", x.shape.str());
}

// Images into the input buffer: uint8 scaled by 1/255, the model's element type as is.
void Model::load_images(const Tensor& x, int64_t n) {
  if (on_device()) {
    load_images_device(x, n);
    return;
  }
  Tensor in = input_view_.first(n);
  dispatch_float(options_.dtype, [&](auto zero) {
    using T = decltype(zero);
    if (x.dtype == DType::u8)
      cpu::u8_to_unit(x.as<uint8_t>(), in.as<T>(), x.numel());
    else
      std::memcpy(in.as<T>(), x.as<T>(), in.bytes());
  });
}

void Model::load_batch(const Tensor& x, const Tensor& labels, int64_t n) {
  check_images(x, n);
  KN_CHECK(labels.device == Device::cpu, "labels are given in host memory");
  if (on_device()) {
    // Labels first: they are range-checked on the host, and a throw after the images' copy was
    // enqueued would leave it reading the caller's memory.
    load_labels_device(labels, n);
    load_images(x, n);
    return;
  }
  load_images(x, n);
  dispatch_float(options_.dtype, [&](auto zero) {
    using T = decltype(zero);
    Tensor tg = targets_view_.first(n);
    if (labels.dtype == DType::i32) {
      KN_CHECK(labels.shape == Shape{n}, "labels should be (", n, ") class indices, got ", labels.shape.str());
      KN_CHECK(cpu::indices_to_onehot(labels.as<int32_t>(), tg.as<T>(), n, classes()),
               "a label is outside the model's classes [0, ", classes(), ")");
    } else {
      KN_CHECK(labels.shape == tg.shape, "targets should be ", tg.shape.str(), ", got ", labels.shape.str());
      std::memcpy(tg.as<T>(), labels.as<T>(), tg.bytes());
    }
  });
}

// The host's images into the input buffer: uint8 through the staging buffer and the device's
// conversion (the same float operation as the CPU's), f32 as is. Enqueued on the compute stream.
void Model::load_images_device(const Tensor& x, int64_t n) {
#ifdef KNOTNET_HAVE_CUDA
  Tensor in = input_view_.first(n);  // (n, H, W, C) f32
  if (x.dtype == DType::u8) {
    Tensor staged = input_u8_view_.first(n);  // (n, H, W, C) u8
    copy_from_host_async(x.data, staged);
    cuda::u8_to_unit(staged.as<uint8_t>(), in.as<float>(), x.numel(), CudaContext::get().compute());
  } else {
    copy_from_host_async(x.as<float>(), in);
  }
#else
  KN_THROW("this build of knotnet has no CUDA backend; use --device cpu");
#endif
}

void Model::load_labels_device(const Tensor& labels, int64_t n) {
#ifdef KNOTNET_HAVE_CUDA
  Tensor tg = targets_view_.first(n);  // (n, K) f32
  if (labels.dtype == DType::i32) {
    KN_CHECK(labels.shape == Shape{n}, "labels should be (", n, ") class indices, got ", labels.shape.str());
    const int32_t* idx = labels.as<int32_t>();
    for (int64_t i = 0; i < n; ++i)
      KN_CHECK(idx[i] >= 0 && idx[i] < classes(), "a label is outside the model's classes [0, ", classes(), ")");
    Tensor staged = labels_view_.first(n);  // (n) i32
    copy_from_host_async(idx, staged);
    cuda::indices_to_onehot(staged.as<int32_t>(), tg.as<float>(), n, classes(), nullptr, CudaContext::get().compute());
  } else {
    KN_CHECK(labels.shape == tg.shape, "targets should be ", tg.shape.str(), ", got ", labels.shape.str());
    copy_from_host_async(labels.as<float>(), tg);
  }
#else
  KN_THROW("this build of knotnet has no CUDA backend; use --device cpu");
#endif
}

void Model::run_forward(int64_t n, const StepContext& ctx) {
  const size_t L = layers_.size();
  for (size_t i = 0; i < L; ++i) {
    const Tensor& in = i == 0 ? input_view_ : acts_[i - 1];
    layers_[i]->forward(in.first(n), acts_[i].first(n), ctx);
  }
  loss_->forward(acts_[L - 1].first(n), probs_view_.first(n));
}

LossResult Model::compute_loss(int64_t n, const Tensor& dlogits) {
  if (!on_device()) return loss_->loss(probs_view_.first(n), targets_view_.first(n), dlogits);
  loss_->loss_async(probs_view_.first(n), targets_view_.first(n), dlogits, loss_sums_view_);
  LossResult pending;
  pending.count = n;
  return pending;
}

// The step's one wait on the GPU: the loss sums come back to the host.
LossResult Model::finish_step(const LossResult& pending) {
  if (!on_device()) return pending;
  return read_back(readback_->send(loss_sums_view_), pending.count);
}

LossResult Model::read_back(int slot, int64_t n) const {
  const std::array<double, 2> sums = readback_->receive(slot);
  return SoftmaxCrossEntropy::result_from_sums(sums.data(), n);
}

// (Also: a step still in flight would have its loss read back into the slot the next call uses.)
void Model::require_no_step_in_flight(const char* call) const {
  KN_CHECK(in_flight_.empty(), call, " with ", in_flight_.size(),
           " training step(s) still in flight: collect_step() them first");
}

LossResult Model::run_forward_backward(const Tensor& x, const Tensor& labels) {
  const int64_t n = x.shape.rank() ? x.shape[0] : 0;
  load_batch(x, labels, n);
  return run_loaded_forward_backward(n);
}

LossResult Model::run_loaded_forward_backward(int64_t n) {
  StepContext ctx{Mode::train, options_.seed, static_cast<uint64_t>(step_)};
  run_forward(n, ctx);
  const size_t L = layers_.size();
  LossResult r = compute_loss(n, act_grads_[L - 1].first(n));
  const size_t first = static_cast<size_t>(first_backward_);
  for (size_t i = L; i-- > first;) {
    Tensor in = i == 0 ? input_view_.first(n) : acts_[i - 1].first(n);
    Tensor dx = i == first ? Tensor() : act_grads_[i - 1].first(n);
    layers_[i]->backward(in, acts_[i].first(n), act_grads_[i].first(n), dx, ctx);
  }
  return r;
}

LossResult Model::forward_backward(const Tensor& x, const Tensor& labels) {
  require_no_step_in_flight("forward_backward");
  return finish_step(run_forward_backward(x, labels));
}

void Model::apply_update() {
  ++step_;
  optimizer_->step(flat_parameters(), flat_gradients(), optimizer_state(), step_);
}

LossResult Model::train_on_batch(const Tensor& x, const Tensor& labels) {
  require_no_step_in_flight("train_on_batch");
  LossResult r = run_forward_backward(x, labels);
  apply_update();  // on the GPU enqueued before the wait for the loss
  return finish_step(r);
}

LossResult Model::evaluate_on_batch(const Tensor& x, const Tensor& labels) {
  require_no_step_in_flight("evaluate_on_batch");
  const int64_t n = x.shape.rank() ? x.shape[0] : 0;
  load_batch(x, labels, n);
  run_forward(n, StepContext{Mode::infer, options_.seed, static_cast<uint64_t>(step_)});
  return finish_step(compute_loss(n, Tensor()));
}

void Model::predict_on_batch(const Tensor& x, const Tensor& probs) {
  require_no_step_in_flight("predict_on_batch");
  const int64_t n = x.shape.rank() ? x.shape[0] : 0;
  check_images(x, n);
  KN_CHECK(probs.device == Device::cpu && probs.shape == Shape({n, classes()}) && probs.dtype == options_.dtype,
           "probabilities should be host ", dtype_name(options_.dtype), Shape({n, classes()}).str(), ", got ",
           probs.describe());
  load_images(x, n);  // inference reads no targets
  run_forward(n, StepContext{Mode::infer, options_.seed, static_cast<uint64_t>(step_)});
  copy_to_host(probs_view_.first(n), probs.data);  // on the GPU: waits on the compute stream
}

DeviceStaging& Model::device_staging() {
  KN_CHECK(staging_, "device staging exists only in an allocated CUDA model");
  return *staging_;
}

// The batch's bytes are converted from its staging slot into the input and target buffers; the
// slot is released to the copy stream right after, so the next-but-one upload may reuse it while
// this step's layers still run.
void Model::load_device_batch(const DeviceBatch& b) {
#ifdef KNOTNET_HAVE_CUDA
  DeviceStaging& staging = device_staging();
  const int64_t n = b.size;
  KN_CHECK(n > 0 && n <= options_.batch, "a batch of ", n, " samples does not fit the planned batch size ",
           options_.batch);
  KN_CHECK(b.images.device == Device::cuda && b.images.dtype == DType::u8 && b.images.shape == input_.with_batch(n),
           "device images should be u8 ", input_.with_batch(n).str(), " on the GPU, got ", b.images.describe());
  KN_CHECK(b.labels.device == Device::cuda && b.labels.dtype == DType::i32 && b.labels.shape == Shape{n},
           "device labels should be i32 (", n, ") on the GPU, got ", b.labels.describe());
  cudaStream_t compute = CudaContext::get().compute();
  staging.wait_ready(b, compute);  // stream-side wait on the copy; throws if the slot was reused
  cuda::u8_to_unit(b.images.as<uint8_t>(), input_view_.first(n).as<float>(), b.images.numel(), compute);
  cuda::indices_to_onehot(b.labels.as<int32_t>(), targets_view_.first(n).as<float>(), n, classes(), nullptr, compute);
  staging.release(b, compute);
#else
  (void)b;
  KN_THROW("this build of knotnet has no CUDA backend; device batches need one");
#endif
}

LossResult Model::train_on_device_batch(const DeviceBatch& b) {
  require_no_step_in_flight("train_on_device_batch");
  submit_train_step(b);
  return collect_step();
}

void Model::submit_train_step(const DeviceBatch& b) {
  KN_CHECK(in_flight_.size() < static_cast<size_t>(kMaxStepsInFlight), "submit_train_step with ", in_flight_.size(),
           " steps already in flight: collect_step() the oldest first");
  load_device_batch(b);
  const LossResult r = run_loaded_forward_backward(b.size);
  apply_update();
  in_flight_.push_back({r.count, readback_->send(loss_sums_view_)});
}

LossResult Model::collect_step() {
  KN_CHECK(!in_flight_.empty(), "collect_step with no training step in flight");
  const InFlight f = in_flight_.front();
  in_flight_.pop_front();
  return read_back(f.slot, f.count);
}

LossResult Model::evaluate_on_device_batch(const DeviceBatch& b) {
  require_no_step_in_flight("evaluate_on_device_batch");
  load_device_batch(b);
  run_forward(b.size, StepContext{Mode::infer, options_.seed, static_cast<uint64_t>(step_)});
  return finish_step(compute_loss(b.size, Tensor()));
}

int64_t Model::flat_offset(const Param& p) const {
  KN_CHECK(p.trainable, "flat_offset: ", p.layer, "/", p.name, " is a statistic, not in the flat parameters");
  const Tensor flat = flat_parameters();
  return (static_cast<const char*>(p.value.data) - static_cast<const char*>(flat.data)) /
         static_cast<std::ptrdiff_t>(dtype_size(flat.dtype));
}

std::vector<Model::Param> Model::parameters() const {
  std::vector<Param> out;
  for (const auto& layer : layers_) {
    auto infos = layer->param_infos();
    for (size_t i = 0; i < infos.size(); ++i)
      out.push_back({layer->name(), infos[i].name, layer->params()[i], layer->grads()[i], infos[i].trainable});
  }
  return out;
}

std::string Model::summary() const {
  std::ostringstream os;
  char line[200];
  std::snprintf(line, sizeof line, "%-16s %-22s %-18s %12s\n", "layer", "spec", "output shape", "params");
  os << line;
  std::snprintf(line, sizeof line, "%-16s %-22s %-18s %12s\n", "input", "", input_.str().c_str(), "0");
  os << line;
  for (const auto& layer : layers_) {
    int64_t count = 0;
    for (const auto& p : layer->param_infos()) count += p.shape.numel();
    std::snprintf(line, sizeof line, "%-16s %-22s %-18s %12s\n", layer->name().c_str(), layer->describe().c_str(),
                  layer->output_shape().str().c_str(), format_count(count).c_str());
    os << line;
  }
  std::snprintf(line, sizeof line, "%-16s %-22s %-18s %12s\n", "softmax_1", "softmax + cross-entropy",
                Shape{classes()}.str().c_str(), "0");
  os << line;
  os << "Total params: " << format_count(trainable_ + statistics_) << "\n";
  os << "Trainable params: " << format_count(trainable_) << "\n";
  os << "Non-trainable params: " << format_count(statistics_) << "\n";
  os << "Memory plan: " << format_bytes(plan_.total_bytes()) << " with lifetime reuse, "
     << format_bytes(plan_.total_without_reuse()) << " without (batch " << options_.batch << ", "
     << dtype_name(options_.dtype) << ", " << device_name(options_.device) << ")\n";
  return os.str();
}

}  // namespace knotnet
