#include "apps/memcap/environment.h"

#include <cstdio>
#include <ctime>

#include "apps/memcap/watched_run.h"
#include "engine/gpu_memory_probe.h"

namespace knotnet::memcap {

using nlohmann::json;

namespace {

// The first line nvidia-smi prints for the first card: "name, driver, memory MiB"; empty when
// there is no nvidia-smi or no card.
std::string nvidia_smi_line() {
  FILE* p =
      popen("nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader,nounits 2>/dev/null", "r");
  if (!p) return "";
  char buf[512] = {0};
  std::string line = std::fgets(buf, sizeof buf, p) ? buf : "";
  pclose(p);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

std::string trim(std::string s) {
  const size_t a = s.find_first_not_of(' ');
  const size_t b = s.find_last_not_of(' ');
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

}  // namespace

int64_t card_total_mib() {
  auto usage = GpuMemoryProbe::get().device_usage();
  return usage ? static_cast<int64_t>(usage->total >> 20) : 0;
}

std::string memory_method(const std::string& device) {
  if (device == "cpu")
    return "CPU run: each process's peak resident memory (wait4's ru_maxrss, which also covers a child it waited "
           "for, such as gnuplot), and the plan's bytes from its summary.json";
  const GpuMemoryProbe& probe = GpuMemoryProbe::get();
  if (probe.available())
    return "NVML: each process's device memory (context and allocations, as nvidia-smi shows it), sampled every "
           "50 ms while it ran; the peak is reported";
  return "NVML is not available (" + probe.why_unavailable() +
         "): the memory each process held comes from its summary.json (gpu_held_bytes + gpu_context_bytes)";
}

json environment_json(const std::string& device, const std::vector<std::string>& memcap_argv) {
  char date[64];
  std::time_t t = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  json e = {{"date", date},
            {"device", device},
            {"memcap_command", shell_line(memcap_argv)},
            {"memory_method", memory_method(device)}};
  const std::string smi = nvidia_smi_line();
  if (smi.empty()) {
    e["card"] = "no NVIDIA GPU visible (nvidia-smi not found or found no card)";
    e["driver"] = json();
    e["card_memory_mib"] = json();
  } else {
    // name, driver_version, memory.total (MiB); the name itself has no commas.
    const size_t c1 = smi.find(','), c2 = smi.find(',', c1 == std::string::npos ? c1 : c1 + 1);
    e["card"] = trim(smi.substr(0, c1));
    e["driver"] = c1 == std::string::npos ? json() : json(trim(smi.substr(c1 + 1, c2 - c1 - 1)));
    e["card_memory_mib"] = c2 == std::string::npos ? json() : json(trim(smi.substr(c2 + 1)));
  }
  const GpuMemoryProbe& probe = GpuMemoryProbe::get();
  e["nvml"] = probe.available() ? std::string("available") : "not available: " + probe.why_unavailable();
  return e;
}

nlohmann::json training_settings_json(const std::string& data, const std::string& image_shape, const std::string& model,
                                      const std::string& optimizer, double lr, const std::string& device) {
  return {{"data", data},           {"image_shape", image_shape}, {"model", model},
          {"optimizer", optimizer}, {"lr", lr},                   {"device", device}};
}

}  // namespace knotnet::memcap
