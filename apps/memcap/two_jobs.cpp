// memcap two-jobs: for each policy, process A starts training; once A holds its memory and is
// training, process B starts with the same policy, and both are watched to their end. The
// question is TensorFlow's default: does a second job on the same card start at all?
//
// "Training" is a complete row in A's batches.csv. train_knots also prints "model NAME: ...
// memory plan ..." on stderr right after its model's memory is taken; when that line is there
// but no row has appeared --alloc-grace seconds later (rows may sit in a stdio buffer), B starts
// anyway. The JSON records which of these started B.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "apps/memcap/deadline.h"
#include "apps/memcap/environment.h"
#include "apps/memcap/experiments.h"
#include "apps/memcap/report.h"
#include "apps/memcap/train_knots_runs.h"
#include "apps/memcap/watched_run.h"

namespace knotnet::memcap {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// How far a training process has got: "training" (a complete row in batches.csv), "allocated"
// (its model's memory is taken: train_knots prints "model NAME: ... memory plan ..." right
// after building the model), or "" (neither yet).
std::string progress_of(const fs::path& out, const fs::path& stderr_log) {
  {
    std::ifstream csv(out / "batches.csv");
    std::string header, row;
    if (std::getline(csv, header) && std::getline(csv, row) && !csv.eof()) return "training";
  }
  std::ifstream err(stderr_log);
  for (std::string line; std::getline(err, line);)
    if (line.rfind("model ", 0) == 0 && line.find("memory plan") != std::string::npos) return "allocated";
  return "";
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

json round_s(double s) { return std::round(s * 1000) / 1000; }

}  // namespace

int run_two_jobs(const TwoJobsFlags& f) {
  const CommonFlags& c = f.common;
  const std::vector<std::string> policies = parse_policies(f.policies, c.device);
  const std::string shape = data_image_shape(c.data);
  Deadline deadline(c.deadline_s);
  const fs::path out = c.out, work = fs::path(c.work) / "two-jobs";
  fs::create_directories(out);

  json settings = training_settings_json(c.data, shape, c.model, c.optimizer, c.lr, c.device);
  settings.update({{"batch", f.batch},
                   {"steps_per_epoch", f.steps},
                   {"epochs", f.epochs},
                   {"ready_timeout_s", f.ready_timeout_s},
                   {"alloc_grace_s", f.alloc_grace_s}});
  json result = {{"experiment", "two-jobs"},
                 {"environment", environment_json(c.device, c.argv)},
                 {"settings", settings},
                 {"policies", json::array()}};
  const fs::path json_path = out / "two_jobs.json";
  write_json_file(json_path, result);

  for (const std::string& policy : policies) {
    json p = {{"policy", policy}, {"jobs", json::array()}};
    if (deadline.near(20)) {
      p["skipped"] = "the deadline was near";
      std::fprintf(stderr, "memcap: two-jobs %s: skipped, the deadline is near\n", policy.c_str());
      result["policies"].push_back(p);
      write_json_file(json_path, result);
      continue;
    }
    const fs::path dir = work / policy_dir_name(policy);
    fs::remove_all(dir);
    const fs::path out_a = dir / "A" / "out", out_b = dir / "B" / "out";
    const auto t0 = std::chrono::steady_clock::now();
    WatchedRun a("two-jobs " + policy + " A", fit_argv(c, policy, f.batch, f.steps, f.epochs, std::nullopt, out_a),
                 dir / "A", deadline.limit(c.run_timeout_s));
    // Wait for A to hold its memory and train (or to end, or for the ready timeout).
    std::string a_progress;
    double allocated_s = -1;
    watch({&a}, [&] {
      a_progress = progress_of(out_a, a.stderr_path());
      if (a_progress == "allocated" && allocated_s < 0) allocated_s = since(t0);
      return a_progress == "training" || since(t0) > f.ready_timeout_s ||
             (allocated_s >= 0 && since(t0) - allocated_s >= f.alloc_grace_s);
    });
    const double a_ready_s = since(t0);
    const std::string ready_by = a_progress == "training"    ? "a row in A's batches.csv"
                                 : !a.running()              ? "A's exit"
                                 : a_progress == "allocated" ? "A's memory-plan line on stderr (no batches.csv row yet)"
                                                             : "the ready timeout";
    WatchedRun b("two-jobs " + policy + " B", fit_argv(c, policy, f.batch, f.steps, f.epochs, std::nullopt, out_b),
                 dir / "B", deadline.limit(c.run_timeout_s));
    const double b_start_s = since(t0);
    a.poll();  // B met A's memory only if A was still running once B had started
    const bool a_running_at_b = a.running();
    double a_end_s = a_running_at_b ? -1 : b_start_s, b_end_s = -1, b_training_s = -1;
    watch({&a, &b}, [&] {
      if (a_end_s < 0 && !a.running()) a_end_s = since(t0);
      if (b_end_s < 0 && !b.running()) b_end_s = since(t0);
      if (b_training_s < 0 && b.running() && progress_of(out_b, b.stderr_path()) == "training")
        b_training_s = since(t0);
      return false;
    });
    if (a_end_s < 0) a_end_s = since(t0);
    if (b_end_s < 0) b_end_s = since(t0);

    json ja = fit_outcome(a, out_a, c.device), jb = fit_outcome(b, out_b, c.device);
    ja["job"] = "A";
    jb["job"] = "B";
    ja["start_s"] = 0.0;
    ja["end_s"] = round_s(a_end_s);
    jb["start_s"] = round_s(b_start_s);
    jb["end_s"] = round_s(b_end_s);
    jb["training_seen_s"] = b_training_s < 0 ? json() : round_s(b_training_s);
    p["jobs"] = {ja, jb};
    p["a_ready_by"] = ready_by;
    p["a_ready_s"] = round_s(a_ready_s);
    p["a_running_when_b_started"] = a_running_at_b;
    // Seconds both processes were alive together (from B's start to the first exit).
    p["overlap_s"] = round_s(std::max(0.0, std::min(a_end_s, b_end_s) - b_start_s));
    for (const json* j : {&ja, &jb})
      std::fprintf(stderr, "memcap: two-jobs %s %s: %s\n", policy.c_str(), j->at("job").get<std::string>().c_str(),
                   outcome_text(*j).c_str());
    if (!a_running_at_b && ja.at("status") == "completed")
      std::fprintf(stderr, "memcap: two-jobs %s: note: A had ended before B started (raise --steps or --epochs)\n",
                   policy.c_str());
    result["policies"].push_back(p);
    write_json_file(json_path, result);
  }
  write_report(out);
  return 0;
}

}  // namespace knotnet::memcap
