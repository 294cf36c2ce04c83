// train_knots plan: builds a model for a batch size without data or allocation and prints its
// summary and memory plan (one row per buffer, totals with and without lifetime reuse). With a
// budget (--gpu-mem, --device-memory, --alloc) it fits the model to it as fit does
// (engine/budget_fit.h) and prints the plan it would train with, or the report.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "io/h5_dataset.h"
#include "apps/train_knots/command.h"
#include "engine/budget.h"
#include "engine/budget_fit.h"
#include "engine/model.h"

namespace knotnet::app {
namespace {

struct PlanFlags {
  std::string model = "seed";
  int64_t batch = 128;
  std::string device = "cpu";
  std::string optimizer = "adam";
  std::string image_shape;
  std::string gpu_mem;
  std::string device_memory;
  std::string alloc = "planned";
  bool json = false;
};

nlohmann::json plan_json(const Model& m) {
  const MemoryPlan& p = m.plan();
  nlohmann::json buffers = nlohmann::json::array();
  for (size_t i = 0; i < p.size(); ++i) {
    const BufferDecl& b = p.buffer(static_cast<int>(i));
    nlohmann::json shape = nlohmann::json::array();
    for (int d = 0; d < b.shape.rank(); ++d) shape.push_back(b.shape[d]);
    buffers.push_back({{"name", b.name},
                       {"role", role_name(b.role)},
                       {"dtype", dtype_name(b.dtype)},
                       {"shape", shape},
                       {"bytes", b.bytes},
                       {"offset", p.offset(static_cast<int>(i))},
                       {"lifetime", b.life.str()}});
  }
  return {{"model", m.spec().origin},
          {"batch", m.batch()},
          {"device", device_name(m.options().device)},
          {"trainable_params", m.trainable_count()},
          {"non_trainable_params", m.statistics_count()},
          {"total_bytes", p.total_bytes()},
          {"total_bytes_without_reuse", p.total_without_reuse()},
          {"buffers", buffers}};
}

std::function<int()> setup(CLI::App& sub) {
  auto f = std::make_shared<PlanFlags>();
  sub.add_option("--model", f->model, "named spec (seed, small, tiny) or spec file")->capture_default_str();
  sub.add_option("--batch", f->batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  sub.add_option("--device", f->device, "device to plan for: cpu or cuda (planning needs no GPU)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cpu", "cuda"}));
  sub.add_option("--optimizer", f->optimizer, "optimizer whose state is planned")->capture_default_str();
  sub.add_option("--image-shape", f->image_shape, "input shape H,W,C overriding the spec's input line");
  sub.add_option("--gpu-mem", f->gpu_mem, "memory budget: a size (6GiB, 512MiB) or a fraction of the card (0.5)");
  sub.add_option("--device-memory", f->device_memory,
                 "the card's memory to plan against, e.g. 80GiB (default: the GPU's, when there is one)");
  sub.add_option("--alloc", f->alloc, "allocation policy whose budget to check: planned, preallocate, growth, fraction=F")
      ->capture_default_str();
  sub.add_flag("--json", f->json, "print the plan as JSON");
  return [f]() {
    ModelOptions opt;
    opt.batch = f->batch;
    opt.device = parse_device(f->device);
    opt.optimizer.name = f->optimizer;
    opt.allocate = false;
    Shape input = f->image_shape.empty() ? Shape{} : parse_image_shape(f->image_shape);
    ModelSpec spec = load_spec(f->model);
    const AllocOptions alloc = parse_alloc_policy(f->alloc);
    nlohmann::json budget_json;
    std::string budget_text;
    if (!f->gpu_mem.empty() || !f->device_memory.empty() || alloc.policy != AllocPolicy::planned) {
      MemoryBudget budget = f->gpu_mem.empty() ? MemoryBudget{} : parse_memory_budget(f->gpu_mem);
      DeviceMemory dev;
      if (!f->device_memory.empty()) {
        MemoryBudget card = parse_memory_budget(f->device_memory);
        KN_CHECK(!card.fraction, "--device-memory '", f->device_memory, "': expected a size such as 80GiB");
        dev.total = dev.free = static_cast<size_t>(card.value);
      } else {
        dev = query_device_memory();
      }
      BudgetFit fit = fit_to_budget(spec, opt, input, policy_budget(alloc, budget, dev), dev);
      const BudgetCheck& c = fit.check;
      opt = fit.options;  // the plan printed below is the one training would use
      budget_json = {{"alloc", alloc.str()},
                     {"budget_bytes", c.budget},
                     {"needed_bytes", c.needed},
                     {"fits", c.fits},
                     {"convolutions", fit.choice},
                     {"tried", fit.tried},
                     {"largest_batch", c.largest_batch},
                     {"context_bytes", dev.context},
                     {"device_total_bytes", dev.total}};
      budget_text = c.fits ? detail::concat("budget: ", format_bytes(c.budget), ", needed ", format_bytes(c.needed),
                                            " with ", fit.choice, ": fits (largest batch that fits: ",
                                            c.largest_batch, ")\n")
                           : c.report + "\n";
    }
    Model m(spec, opt, input);
    nlohmann::json j = plan_json(m);
    if (!budget_json.is_null()) j["budget"] = budget_json;
    if (f->json) {
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << m.summary() << "\n" << m.plan().table() << budget_text;
    }
    return 0;
  };
}

}  // namespace

KN_REGISTER_COMMAND(plan, "plan", "print a model's memory plan for a batch size, without data or allocation", setup);

}  // namespace knotnet::app
