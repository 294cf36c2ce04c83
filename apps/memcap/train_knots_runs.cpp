#include "apps/memcap/train_knots_runs.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "engine/format.h"
#include "io/h5_dataset.h"

namespace knotnet::memcap {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string number_text(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::vector<std::string> fit_argv(const CommonFlags& c, const std::string& alloc, int64_t batch, int64_t steps,
                                  int64_t epochs, std::optional<int64_t> budget_mib, const fs::path& out) {
  std::vector<std::string> a = {c.train_knots, "fit"};
  auto flag = [&](const char* name, const std::string& value) { a.insert(a.end(), {name, value}); };
  flag("--data", c.data);
  flag("--model", c.model);
  flag("--device", c.device);
  flag("--optimizer", c.optimizer);
  flag("--lr", number_text(c.lr));
  flag("--batch", std::to_string(batch));
  flag("--alloc", alloc);
  flag("--epochs", std::to_string(epochs));
  flag("--steps-per-epoch", std::to_string(steps));
  flag("--threads", std::to_string(c.threads));
  if (!c.split.empty()) flag("--split", c.split);
  if (budget_mib) flag("--gpu-mem", std::to_string(*budget_mib) + "MiB");
  flag("--out", out.string());
  return a;
}

json run_plan(const CommonFlags& c, int64_t batch, const std::string& image_shape, const fs::path& log_dir,
              double timeout_s) {
  const std::vector<std::string> argv = {c.train_knots, "plan", "--model", c.model, "--batch", std::to_string(batch),
                                         "--device", c.device, "--optimizer", c.optimizer, "--image-shape", image_shape,
                                         "--json"};
  WatchedRun r("plan b=" + std::to_string(batch), argv, log_dir, timeout_s);
  run_to_end(r);
  KN_CHECK(r.process().exited() && r.process().exit_code() == 0, r.command(), ": ",
           r.timed_out() ? "timed out" : r.process().status_text(), ": ", first_error_line(r.stderr_path()));
  json j;
  try {
    j = json::parse(read_text(r.stdout_path()));
  } catch (const json::exception& e) {
    KN_THROW(r.command(), ": its output is not JSON (", e.what(), ")");
  }
  KN_CHECK(j.contains("total_bytes") && j["total_bytes"].is_number_unsigned(), r.command(),
           ": no total_bytes in its JSON");
  j.erase("buffers");  // the totals are what memcap reports; the plan itself is one command away
  j["command"] = r.command();
  return j;
}

std::string first_error_line(const fs::path& stderr_log) {
  std::ifstream in(stderr_log);
  const std::string prefix = "train_knots: error: ";
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  }
  return last;
}

json fit_outcome(const WatchedRun& r, const fs::path& out, const std::string& device) {
  const ChildProcess& p = r.process();
  json o = {{"label", r.label()}, {"command", r.command()}, {"seconds", p.seconds()}};
  if (r.timed_out())
    o["status"] = "timed out";
  else if (p.exited())
    o["status"] = p.exit_code() == 0 ? "completed" : "failed";
  else
    o["status"] = "killed";
  o["exit"] = p.exited() ? json(p.exit_code()) : json();
  o["signal"] = p.signal() ? json(p.signal()) : json();
  o["error"] = json();
  if (o["status"] != "completed") {
    std::string e = first_error_line(r.stderr_path());
    if (r.timed_out())
      e = "timed out after " + std::to_string(static_cast<int>(p.seconds())) + " s" + (e.empty() ? "" : ": " + e);
    o["error"] = e.empty() ? json(p.status_text()) : json(e);
  }
  o["device_peak_bytes"] = r.device_peak() ? json(*r.device_peak()) : json();
  o["nvml_samples"] = r.samples();
  o["rss_peak_bytes"] = p.peak_rss_bytes() ? json(p.peak_rss_bytes()) : json();

  json s = json::object();
  if (auto summary = read_json_file(out / "summary.json")) {
    for (const char* k :
         {"status", "alloc", "device", "plan_bytes", "gpu_plan_bytes", "gpu_bytes_measured", "gpu_held_bytes",
          "gpu_context_bytes", "gpu_context_method", "held_bytes", "images_per_second_mean", "versions"})
      if (summary->contains(k)) s[k] = (*summary)[k];
  }
  o["summary"] = s;
  o["images_per_second"] = s.contains("images_per_second_mean") ? s["images_per_second_mean"] : json();

  // The one figure shown for the memory a run held, and where it came from.
  auto num = [&](const char* k) { return s.contains(k) && s[k].is_number() ? s[k].get<double>() : -1.0; };
  if (device == "cpu") {
    o["memory_bytes"] = o["rss_peak_bytes"];
    o["memory_source"] = "peak RSS (wait4)";
  } else if (r.device_peak()) {
    o["memory_bytes"] = *r.device_peak();
    o["memory_source"] = "NVML per-process peak";
  } else if (num("gpu_held_bytes") >= 0 && num("gpu_context_bytes") >= 0) {
    o["memory_bytes"] = static_cast<size_t>(num("gpu_held_bytes") + num("gpu_context_bytes"));
    o["memory_source"] = "summary.json gpu_held_bytes + gpu_context_bytes";
  } else {
    o["memory_bytes"] = json();
    o["memory_source"] = "none (no NVML, no summary.json)";
  }

  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(out, ec))
    if (entry.path().extension() == ".h5") fs::remove(entry.path(), ec);
  return o;
}

std::string outcome_text(const json& o) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f s", o.value("seconds", 0.0));
  const std::string status = o.value("status", "?");
  if (status != "completed") {
    std::string t = status;
    if (!o.at("exit").is_null()) t += " (exit " + std::to_string(o.at("exit").get<int>()) + ")";
    return t + ": " + o.at("error").get<std::string>() + ", " + buf;
  }
  std::string t = "completed";
  if (o.at("memory_bytes").is_number())
    t += ", " + format_bytes(o.at("memory_bytes").get<size_t>()) + " held (" + o.at("memory_source").get<std::string>() + ")";
  if (o.at("images_per_second").is_number()) {
    char ips[48];
    std::snprintf(ips, sizeof ips, ", %.0f img/s", o.at("images_per_second").get<double>());
    t += ips;
  }
  return t + ", " + buf;
}

std::string data_image_shape(const std::string& path) {
  KN_CHECK(fs::exists(path), "--data ", path, ": no such file");
  ImageDataset data(path);
  const Shape& s = data.info().image_shape;
  KN_CHECK(s.rank() == 3, path, ": expected images of rank 3 (H, W, C), found ", s.str());
  return std::to_string(s[0]) + "," + std::to_string(s[1]) + "," + std::to_string(s[2]);
}

fs::path executable_dir(const std::string& argv0) {
  if (argv0.find('/') != std::string::npos) return fs::path(argv0).parent_path();
  std::error_code ec;
  return fs::read_symlink("/proc/self/exe", ec).parent_path();
}

std::string find_train_knots(const std::string& flag, const std::string& argv0) {
  if (!flag.empty()) {
    KN_CHECK(::access(flag.c_str(), X_OK) == 0, "--train-knots ", flag, ": not an executable file");
    return flag;
  }
  const fs::path candidate = executable_dir(argv0) / "train_knots";
  KN_CHECK(::access(candidate.c_str(), X_OK) == 0, "cannot find train_knots beside memcap (looked for ",
           candidate.string(), "); pass --train-knots PATH");
  return candidate.string();
}

std::optional<json> read_json_file(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  try {
    return json::parse(in);
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

void write_json_file(const fs::path& p, const json& j) {
  const fs::path tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp);
    KN_CHECK(out, "cannot write ", tmp.string());
    out << j.dump(1) << "\n";
    KN_CHECK(out.good(), "cannot write ", tmp.string());
  }
  fs::rename(tmp, p);
}

}  // namespace knotnet::memcap
