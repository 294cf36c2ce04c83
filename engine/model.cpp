#include "engine/model.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <sstream>

#include "engine/rng.h"
#include "kernels/cpu/convert.h"

namespace knotnet {

Model::Model(const ModelSpec& spec, const ModelOptions& options, Shape input)
    : spec_(spec), options_(options), input_(input.rank() > 0 ? input : spec.input) {
  KN_CHECK(options_.batch > 0, "batch size must be positive, got ", options_.batch);
  KN_CHECK(options_.dtype == DType::f32 || options_.dtype == DType::f64, "a model computes in f32 or f64, not ",
           dtype_name(options_.dtype));
  KN_CHECK(options_.device == Device::cpu || options_.dtype == DType::f32, "the CUDA backend computes in f32 only");
  build_layers();
  optimizer_ = make_optimizer(options_.optimizer);
  declare_buffers();
  plan_.finalize();
  if (!options_.allocate) return;
  arena_ = Arena(plan_.total_bytes(), options_.device);
  bind_views();
  initialise();
}

Model::~Model() = default;

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
    if (layers_[i]->needs_input_for_backward()) extend(in_id, bwd_step(i));
    if (layers_[i]->output_aliases_input()) {
      act_ids_[i] = in_id;
      extend(in_id, fwd_step(i + 1));
    } else {
      act_ids_[i] = plan_.declare(layers_[i]->name() + ".out", Role::activation,
                                  layers_[i]->output_shape().with_batch(B), dt, {fwd_step(i), fwd_step(i + 1)});
    }
    if (layers_[i]->needs_output_for_backward()) extend(act_ids_[i], bwd_step(i));
  }
  // The probabilities outlive backward, so that probabilities() still holds the last forward
  // pass's output after forward_backward and train_on_batch (as model.h promises).
  probs_id_ = plan_.declare("probabilities", Role::activation, Shape{B, classes()}, dt,
                            {fwd_step(loss_step), Lifetime::kForever});

  // Gradients of activations: the gradient of layer i's output is written by backward i+1 (the
  // loss for the last layer) and read by backward i. Layer 0's input needs no gradient.
  grad_ids_.assign(L, -1);
  for (int i = L - 1; i >= 0; --i) {
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
    for (const ScratchInfo& s : layers_[i]->scratch_infos(B, dt)) {
      Lifetime life = s.span == Span::forward    ? Lifetime::at(fwd_step(i))
                      : s.span == Span::backward ? Lifetime::at(bwd_step(i))
                                                 : Lifetime{fwd_step(i), bwd_step(i)};
      Role role = s.span == Span::forward_to_backward ? Role::saved : Role::scratch;
      scratch_ids_[i].push_back(plan_.declare(layers_[i]->name() + "." + s.name, role, s.shape, s.dtype, life));
    }
  }
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
    act_grads_.push_back(arena_.view(plan_, grad_ids_[i]).reshaped(layers_[i]->output_shape().with_batch(B)));
  }
  for (MemoryPlan::Id id : state_ids_) state_views_.push_back(arena_.view(plan_, id));
  input_view_ = arena_.view(plan_, input_id_);
  targets_view_ = arena_.view(plan_, targets_id_);
  probs_view_ = arena_.view(plan_, probs_id_);
}

Tensor Model::flat_statistics() const { return stats_id_ >= 0 ? arena_.view(plan_, stats_id_) : Tensor(); }

// Keras's initialisers: glorot_uniform kernels, zero biases and betas, unit gammas, running
// mean 0 and variance 1. Each parameter draws from its own counter-based stream, so a value
// depends only on the seed, the layer, the parameter and the element.
void Model::initialise() {
  KN_CHECK(options_.device == Device::cpu, "initialising parameters on ", device_name(options_.device),
           " needs the CUDA backend, which is not in this build yet");
  for (size_t li = 0; li < layers_.size(); ++li) {
    auto infos = layers_[li]->param_infos();
    for (size_t pi = 0; pi < infos.size(); ++pi) {
      const ParamInfo& p = infos[pi];
      const Tensor& t = layers_[li]->params()[pi];
      uint64_t stream = (static_cast<uint64_t>(li) << 16) | pi;
      dispatch_float(t.dtype, [&](auto zero) {
        using T = decltype(zero);
        T* v = t.as<T>();
        const int64_t n = t.numel();
        if (p.init == Init::glorot_uniform) {
          KN_CHECK(p.fan_in + p.fan_out > 0, "layer '", layers_[li]->name(), "' ", p.name, " has no fan-in/out");
          double limit = std::sqrt(6.0 / static_cast<double>(p.fan_in + p.fan_out));
          for (int64_t k = 0; k < n; ++k)
            v[k] = static_cast<T>((2.0 * random_uniform_double(options_.seed, stream, k) - 1.0) * limit);
        } else {
          T fill = p.init == Init::ones ? T(1) : T(0);
          for (int64_t k = 0; k < n; ++k) v[k] = fill;
        }
      });
    }
  }
  // Gradients start at zero so that a model that never ran backward has defined gradients.
  std::memset(flat_gradients().data, 0, flat_gradients().bytes());
  optimizer_->init_state(optimizer_state());
}

void Model::load_batch(const Tensor& x, const Tensor& labels, int64_t n) {
  KN_CHECK(arena_.base(), "this model was built to plan only (ModelOptions::allocate = false)");
  KN_CHECK(x.device == Device::cpu && labels.device == Device::cpu, "batches are given in host memory");
  KN_CHECK(options_.device == Device::cpu, "the CUDA backend is not in this build yet; use --device cpu");
  KN_CHECK(n > 0 && n <= options_.batch, "a batch of ", n, " samples does not fit the planned batch size ",
           options_.batch);
  KN_CHECK(x.shape == input_.with_batch(n), "images should be ", input_.with_batch(n).str(), ", got ", x.shape.str());
  Tensor in = input_view_.first(n);
  dispatch_float(options_.dtype, [&](auto zero) {
    using T = decltype(zero);
    if (x.dtype == DType::u8)
      cpu::u8_to_unit(x.as<uint8_t>(), in.as<T>(), x.numel());
    else
      std::memcpy(in.as<T>(), x.as<T>(), in.bytes());
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

void Model::run_forward(int64_t n, const StepContext& ctx) {
  const size_t L = layers_.size();
  for (size_t i = 0; i < L; ++i) {
    const Tensor& in = i == 0 ? input_view_ : acts_[i - 1];
    layers_[i]->forward(in.first(n), acts_[i].first(n), ctx);
  }
  loss_->forward(acts_[L - 1].first(n), probs_view_.first(n));
}

LossResult Model::forward_backward(const Tensor& x, const Tensor& labels) {
  const int64_t n = x.shape.rank() ? x.shape[0] : 0;
  load_batch(x, labels, n);
  StepContext ctx{Mode::train, options_.seed, static_cast<uint64_t>(step_)};
  run_forward(n, ctx);
  const size_t L = layers_.size();
  LossResult r = loss_->loss(probs_view_.first(n), targets_view_.first(n), act_grads_[L - 1].first(n));
  for (size_t i = L; i-- > 0;) {
    Tensor in = i == 0 ? input_view_.first(n) : acts_[i - 1].first(n);
    Tensor dx = i == 0 ? Tensor() : act_grads_[i - 1].first(n);
    layers_[i]->backward(in, acts_[i].first(n), act_grads_[i].first(n), dx, ctx);
  }
  return r;
}

void Model::apply_update() {
  ++step_;
  optimizer_->step(flat_parameters(), flat_gradients(), optimizer_state(), step_);
}

LossResult Model::train_on_batch(const Tensor& x, const Tensor& labels) {
  LossResult r = forward_backward(x, labels);
  apply_update();
  return r;
}

LossResult Model::evaluate_on_batch(const Tensor& x, const Tensor& labels) {
  const int64_t n = x.shape.rank() ? x.shape[0] : 0;
  load_batch(x, labels, n);
  run_forward(n, StepContext{Mode::infer, options_.seed, static_cast<uint64_t>(step_)});
  return loss_->loss(probs_view_.first(n), targets_view_.first(n), Tensor());
}

void Model::predict_on_batch(const Tensor& x, const Tensor& probs) {
  const int64_t n = x.shape.rank() ? x.shape[0] : 0;
  KN_CHECK(arena_.base(), "this model was built to plan only (ModelOptions::allocate = false)");
  KN_CHECK(n > 0 && n <= options_.batch, "a batch of ", n, " samples does not fit the planned batch size ",
           options_.batch);
  KN_CHECK(probs.shape == Shape({n, classes()}) && probs.dtype == options_.dtype, "probabilities should be ",
           dtype_name(options_.dtype), Shape({n, classes()}).str(), ", got ", probs.describe());
  // Targets are unused by inference; fill them with class 0 so the batch loads.
  dispatch_float(options_.dtype, [&](auto zero) {
    using T = decltype(zero);
    Tensor tg = targets_view_.first(n);
    for (int64_t i = 0; i < tg.numel(); ++i) tg.as<T>()[i] = T(0);
  });
  Tensor in = input_view_.first(n);
  KN_CHECK(x.shape == input_.with_batch(n), "images should be ", input_.with_batch(n).str(), ", got ", x.shape.str());
  dispatch_float(options_.dtype, [&](auto zero) {
    using T = decltype(zero);
    if (x.dtype == DType::u8)
      cpu::u8_to_unit(x.as<uint8_t>(), in.as<T>(), x.numel());
    else
      std::memcpy(in.as<T>(), x.as<T>(), in.bytes());
  });
  run_forward(n, StepContext{Mode::infer, options_.seed, static_cast<uint64_t>(step_)});
  std::memcpy(probs.data, probs_view_.data, probs.bytes());
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
