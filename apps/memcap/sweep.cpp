// memcap sweep: memory against batch size. For each batch size: the plan's bytes (train_knots
// plan), the measured peak of a short budget-free fit under each policy, and the smallest
// --gpu-mem at which each policy still trains (budget_search.h, starting from the measured
// figures, so that a search usually takes two or three runs). PyTorch's figures for the same
// model and batch sizes come from one run of bench/torch_memory.py on the same card. Stages run
// in that order, and the JSON is rewritten after each, so that a deadline cuts the least useful
// part (the searches of the largest batch sizes) first.
#include <cstdio>

#include "apps/memcap/budget_search.h"
#include "apps/memcap/deadline.h"
#include "apps/memcap/environment.h"
#include "apps/memcap/experiments.h"
#include "apps/memcap/report.h"
#include "apps/memcap/torch_run.h"
#include "apps/memcap/train_knots_runs.h"
#include "apps/memcap/watched_run.h"
#include "engine/error.h"
#include "engine/format.h"

namespace knotnet::memcap {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A budget-free run's own account of what the budget check will count, in bytes; else its
// measured peak; else the plan. The search starts there.
int64_t search_guess_bytes(const json& run, const std::string& policy, int64_t plan_bytes) {
  const json s = run.value("summary", json::object());
  auto field = [&](const char* k) { return s.contains(k) && s[k].is_number() ? s[k].get<int64_t>() : int64_t{-1}; };
  const int64_t context = field("gpu_context_bytes");
  const int64_t held = policy == "planned" ? field("gpu_plan_bytes") : field("gpu_held_bytes");
  if (held >= 0 && context >= 0) return held + context;
  if (run.value("memory_bytes", json()).is_number()) return run.at("memory_bytes").get<int64_t>();
  return plan_bytes;
}

std::string row_label(int64_t batch) { return "b" + std::to_string(batch); }

}  // namespace

int run_sweep(const SweepFlags& f) {
  const CommonFlags& c = f.common;
  const std::vector<int64_t> batches = parse_batches(f.batches);
  const std::vector<std::string> policies = parse_policies(f.policies, c.device);
  KN_CHECK(f.resolution_mib > 0, "--resolution-mib must be positive");
  KN_CHECK(f.max_search_runs >= 0, "--max-search-runs must be 0 or more");
  const std::string shape = data_image_shape(c.data);
  Deadline deadline(c.deadline_s);
  const fs::path out = c.out, work = fs::path(c.work) / "sweep";
  fs::create_directories(out);
  fs::remove_all(work);
  const int64_t card_mib = card_total_mib();
  // Budgets above the card are pointless on a GPU; on the CPU the card's size is no bound.
  const int64_t max_mib = card_mib > 0 && c.device == "cuda" ? card_mib : int64_t{1} << 22;

  json settings = training_settings_json(c.data, shape, c.model, c.optimizer, c.lr, c.device);
  settings.update({{"steps_per_epoch", f.steps},
                   {"policies", policies},
                   {"resolution_mib", f.resolution_mib},
                   {"max_search_runs", f.max_search_runs}});
  json result = {{"experiment", "sweep"},
                 {"environment", environment_json(c.device, c.argv)},
                 {"settings", settings},
                 {"rows", json::array()},
                 {"torch", {{"status", "not measured"}, {"why", "not run yet"}, {"results", json::array()}}}};
  const fs::path json_path = out / "sweep.json";
  auto save = [&] { write_json_file(json_path, result); };
  save();

  // 1. Plans and budget-free runs.
  for (int64_t batch : batches) {
    json row = {{"batch", batch}, {"policies", json::object()}};
    if (deadline.near(20)) {
      row["plan_bytes"] = row["plan_bytes_without_reuse"] = row["plan_command"] = nullptr;
      for (const std::string& policy : policies)
        row["policies"][policy] = {{"run", {{"status", "skipped"}, {"error", "the deadline was near"}}},
                                   {"measured_peak_bytes", nullptr}};
      std::fprintf(stderr, "memcap: sweep batch %lld: skipped, the deadline is near\n", static_cast<long long>(batch));
      result["rows"].push_back(row);
      save();
      continue;
    }
    const fs::path dir = work / row_label(batch);
    json plan = run_plan(c, batch, shape, dir / "plan", deadline.limit(60));
    row["plan_bytes"] = plan["total_bytes"];
    row["plan_bytes_without_reuse"] = plan.value("total_bytes_without_reuse", json());
    row["plan_command"] = plan["command"];
    for (const std::string& policy : policies) {
      json pol;
      if (deadline.near(15)) {
        pol["run"] = json{{"status", "skipped"}, {"error", "the deadline was near"}};
      } else {
        const fs::path run_dir = dir / policy_dir_name(policy) / "measure";
        const fs::path run_out = run_dir / "out";
        WatchedRun r("sweep b=" + std::to_string(batch) + " " + policy,
                     fit_argv(c, policy, batch, f.steps, 1, std::nullopt, run_out), run_dir,
                     deadline.limit(c.run_timeout_s));
        run_to_end(r);
        pol["run"] = fit_outcome(r, run_out, c.device);
      }
      pol["measured_peak_bytes"] = pol["run"].value("status", "") == "completed" ? pol["run"]["memory_bytes"] : json();
      std::fprintf(stderr, "memcap: sweep batch %lld %s: plan %s; %s\n", static_cast<long long>(batch), policy.c_str(),
                   format_bytes(plan["total_bytes"].get<size_t>()).c_str(),
                   pol["run"].contains("label") ? outcome_text(pol["run"]).c_str() : "skipped: the deadline was near");
      // The CUDA context and library handles, as the training process measured them.
      const json& summary = pol["run"].value("summary", json::object());
      if (!row.contains("context_bytes") && summary.value("gpu_context_bytes", json()).is_number())
        row["context_bytes"] = summary["gpu_context_bytes"];
      row["policies"][policy] = pol;
    }
    result["rows"].push_back(row);
    save();
  }

  // 2. PyTorch, once for every batch size.
  result["torch"] = run_torch_memory(f, batches, shape, work, deadline.limit(c.run_timeout_s), c.argv.at(0));
  std::fprintf(stderr, "memcap: sweep pytorch: %s\n",
               result["torch"]["status"] == "measured"
                   ? "measured"
                   : ("not measured: " + result["torch"]["why"].get<std::string>()).c_str());
  save();

  // 3. The smallest budget that trains, per batch size and policy.
  for (json& row : result["rows"]) {
    const int64_t batch = row["batch"];
    for (const std::string& policy : policies) {
      json& pol = row["policies"][policy];
      json search = {{"runs", 0},
                     {"converged", false},
                     {"smallest_ok_bytes", nullptr},
                     {"largest_fail_bytes", nullptr},
                     {"tries", json::array()},
                     {"failure", nullptr}};
      if (pol["run"].value("status", "") != "completed") {
        search["note"] = pol["run"].value("status", "") == "skipped"
                             ? "not measured or searched: the deadline was near"
                             : "not searched: the budget-free run did not complete";
        pol["search"] = search;
        continue;
      }
      const int64_t guess_mib = (search_guess_bytes(pol["run"], policy, row["plan_bytes"]) + (1 << 20) - 1) >> 20;
      BudgetSearch s = find_smallest_budget(
          guess_mib, f.resolution_mib, max_mib, f.max_search_runs, [&](int64_t mib) -> std::optional<bool> {
            if (deadline.near(15)) return std::nullopt;
            const fs::path run_dir =
                work / row_label(batch) / policy_dir_name(policy) / ("budget-" + std::to_string(mib));
            const fs::path run_out = run_dir / "out";
            WatchedRun r(
                "sweep b=" + std::to_string(batch) + " " + policy + " --gpu-mem " + std::to_string(mib) + "MiB",
                fit_argv(c, policy, batch, f.steps, 1, mib, run_out), run_dir, deadline.limit(c.run_timeout_s));
            run_to_end(r);
            json o = fit_outcome(r, run_out, c.device);
            const bool ok = o["status"] == "completed";
            search["tries"].push_back(
                {{"budget_mib", mib}, {"ran", ok}, {"error", o["error"]}, {"command", o["command"]}});
            std::fprintf(stderr, "memcap: sweep batch %lld %s --gpu-mem %lldMiB: %s\n", static_cast<long long>(batch),
                         policy.c_str(), static_cast<long long>(mib), outcome_text(o).c_str());
            return ok;
          });
      search["runs"] = s.runs();
      search["converged"] = s.converged;
      search["guess_mib"] = guess_mib;
      if (s.smallest_ok_mib) search["smallest_ok_bytes"] = *s.smallest_ok_mib << 20;
      if (s.largest_fail_mib) search["largest_fail_bytes"] = *s.largest_fail_mib << 20;
      // The error of the largest budget that failed: what stops training just below the answer.
      if (s.largest_fail_mib)
        for (const json& t : search["tries"])
          if (t["budget_mib"] == *s.largest_fail_mib && t["error"].is_string()) search["failure"] = t["error"];
      if (s.stopped)
        search["note"] = "cut short: the deadline was near";
      else if (!s.converged && f.max_search_runs > 0)
        search["note"] = "cut short after --max-search-runs " + std::to_string(f.max_search_runs) + " runs";
      else if (s.converged && !s.largest_fail_mib)
        search["note"] = "ran at the smallest budget tried (" + std::to_string(f.resolution_mib) +
                         " MiB): the budget does not bind on this device";
      pol["search"] = search;
      save();
    }
  }
  save();
  write_report(out);
  return 0;
}

}  // namespace knotnet::memcap
