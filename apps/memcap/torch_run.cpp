#include "apps/memcap/torch_run.h"

#include "apps/memcap/train_knots_runs.h"
#include "apps/memcap/watched_run.h"

namespace knotnet::memcap {

namespace fs = std::filesystem;
using nlohmann::json;

std::string find_torch_script(const std::string& flag, const std::string& argv0) {
  if (!flag.empty()) return fs::exists(flag) ? flag : "";
  const fs::path rel = fs::path("bench") / "torch_memory.py";
  if (fs::exists(rel)) return rel.string();
  const fs::path beside = executable_dir(argv0) / ".." / ".." / rel;
  return fs::exists(beside) ? beside.lexically_normal().string() : "";
}

json run_torch_memory(const SweepFlags& f, const std::vector<int64_t>& batches, const std::string& image_shape,
                      const fs::path& work, double timeout_s, const std::string& argv0) {
  auto not_measured = [](const std::string& why) {
    return json{{"status", "not measured"}, {"why", why}, {"results", json::array()}};
  };
  const CommonFlags& c = f.common;
  if (f.torch == "none") return not_measured("--torch none");
  if (c.device != "cuda")
    return not_measured("--device " + c.device + ": PyTorch's GPU memory is measured only with --device cuda");
  if (c.model != "seed" || image_shape != "128,128,3")
    return not_measured("bench/torch_memory.py builds the seed model for 128x128x3 images; this sweep trains --model " +
                        c.model + " on " + image_shape + " images");
  const std::string script = find_torch_script(f.torch_script, argv0);
  if (script.empty())
    return not_measured(f.torch_script.empty()
                            ? "bench/torch_memory.py not found (run from the source tree, or pass --torch-script)"
                            : "--torch-script " + f.torch_script + ": no such file");
  if (timeout_s < 10) return not_measured("the deadline left no time for it");

  const fs::path dir = work / "torch";
  fs::create_directories(dir);
  const fs::path out = dir / "torch_memory.json";
  fs::remove(out);
  std::vector<std::string> argv = {f.torch,       script,       "--steps",  std::to_string(f.steps),
                                   "--optimizer", c.optimizer,  "--lr",     json(c.lr).dump(),
                                   "--json",      out.string(), "--batches"};
  for (int64_t b : batches) argv.push_back(std::to_string(b));
  if (f.torch_cudnn_benchmark) argv.push_back("--cudnn-benchmark");
  json result;
  try {
    WatchedRun r("torch", argv, dir, timeout_s);
    run_to_end(r);
    result = {{"command", r.command()},
              {"seconds", r.process().seconds()},
              {"nvml_process_peak_bytes", r.device_peak() ? json(*r.device_peak()) : json()}};
    if (r.timed_out()) {
      result.update(not_measured("timed out after " + std::to_string(static_cast<int>(timeout_s)) + " s"));
      return result;
    }
    if (!(r.process().exited() && r.process().exit_code() == 0)) {
      const std::string err = first_error_line(r.stderr_path());
      result.update(not_measured(err.empty() ? r.process().status_text() : err));
      return result;
    }
  } catch (const std::exception& e) {
    return not_measured(e.what());  // e.g. the interpreter cannot be started
  }
  auto j = read_json_file(out);
  if (!j || !j->contains("results")) {
    result.update(not_measured(out.filename().string() + " missing or unreadable after a clean exit"));
    return result;
  }
  result.update(*j);
  result["status"] = "measured";
  return result;
}

}  // namespace knotnet::memcap
