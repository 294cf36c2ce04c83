#include "engine/gpu_memory_probe.h"

#include <dlfcn.h>

#include <vector>

namespace knotnet {

namespace {

// The few NVML declarations used here, with NVML's stable C ABI (nvml.h, NVML API v11+):
// nvmlReturn_t is an int (0: success), devices are opaque pointers, nvmlMemory_t is version 1.
using NvmlReturn = int;
using NvmlDevice = void*;
struct NvmlMemory {
  unsigned long long total, free, used;
};
struct NvmlProcessInfoV2 {  // nvmlProcessInfo_v2_t, what the _v2 process query fills
  unsigned int pid;
  unsigned long long used_gpu_memory;
  unsigned int gpu_instance_id;
  unsigned int compute_instance_id;
};
constexpr NvmlReturn kSuccess = 0;
constexpr NvmlReturn kInsufficientSize = 7;
constexpr unsigned long long kNotAvailable = ~0ull;  // NVML_VALUE_NOT_AVAILABLE

using InitFn = NvmlReturn (*)();
using ShutdownFn = NvmlReturn (*)();
using ByIndexFn = NvmlReturn (*)(unsigned, NvmlDevice*);
using ByPciFn = NvmlReturn (*)(const char*, NvmlDevice*);
using MemoryInfoFn = NvmlReturn (*)(NvmlDevice, NvmlMemory*);
using ProcessesFn = NvmlReturn (*)(NvmlDevice, unsigned*, NvmlProcessInfoV2*);

}  // namespace

GpuMemoryProbe& GpuMemoryProbe::get() {
  static GpuMemoryProbe probe;
  return probe;
}

GpuMemoryProbe::GpuMemoryProbe() {
  lib_ = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib_) {
    why_ = "NVML (libnvidia-ml.so.1) is not installed: no NVIDIA driver on this machine";
    return;
  }
  auto sym = [&](const char* name) { return dlsym(lib_, name); };
  auto init = reinterpret_cast<InitFn>(sym("nvmlInit_v2"));
  get_by_index_ = sym("nvmlDeviceGetHandleByIndex_v2");
  get_by_pci_ = sym("nvmlDeviceGetHandleByPciBusId_v2");
  memory_info_ = sym("nvmlDeviceGetMemoryInfo");
  running_processes_ = sym("nvmlDeviceGetComputeRunningProcesses_v2");
  shutdown_ = sym("nvmlShutdown");
  if (!init || !get_by_index_ || !get_by_pci_ || !memory_info_ || !shutdown_) {
    why_ = "libnvidia-ml.so.1 lacks the NVML functions knotnet uses (driver too old)";
    return;
  }
  if (init() != kSuccess) {
    why_ = "nvmlInit failed (no usable NVIDIA device)";
    return;
  }
  available_ = true;
}

GpuMemoryProbe::~GpuMemoryProbe() {
  // Left loaded at exit on purpose: other static destructors may still query it.
  if (available_ && shutdown_) reinterpret_cast<ShutdownFn>(shutdown_)();
}

void* GpuMemoryProbe::device_handle(const std::string& pci_bus_id, unsigned index) const {
  if (!available_) return nullptr;
  NvmlDevice d = nullptr;
  NvmlReturn r = pci_bus_id.empty() ? reinterpret_cast<ByIndexFn>(get_by_index_)(index, &d)
                                    : reinterpret_cast<ByPciFn>(get_by_pci_)(pci_bus_id.c_str(), &d);
  return r == kSuccess ? d : nullptr;
}

std::optional<GpuMemoryProbe::Usage> GpuMemoryProbe::device_usage(const std::string& pci_bus_id,
                                                                  unsigned index) const {
  void* d = device_handle(pci_bus_id, index);
  if (!d) return std::nullopt;
  NvmlMemory m{};
  if (reinterpret_cast<MemoryInfoFn>(memory_info_)(d, &m) != kSuccess) return std::nullopt;
  return Usage{static_cast<size_t>(m.total), static_cast<size_t>(m.used)};
}

std::optional<size_t> GpuMemoryProbe::process_used(long pid, const std::string& pci_bus_id, unsigned index) const {
  void* d = device_handle(pci_bus_id, index);
  if (!d || !running_processes_) return std::nullopt;
  auto query = reinterpret_cast<ProcessesFn>(running_processes_);
  std::vector<NvmlProcessInfoV2> infos(16);
  for (int attempt = 0; attempt < 4; ++attempt) {
    unsigned count = static_cast<unsigned>(infos.size());
    NvmlReturn r = query(d, &count, infos.data());
    if (r == kInsufficientSize) {
      infos.resize(count + 16);
      continue;
    }
    if (r != kSuccess) return std::nullopt;
    for (unsigned i = 0; i < count && i < infos.size(); ++i)
      // 0 also means "not available": some containers report it for every process.
      if (static_cast<long>(infos[i].pid) == pid && infos[i].used_gpu_memory != kNotAvailable &&
          infos[i].used_gpu_memory > 0)
        return static_cast<size_t>(infos[i].used_gpu_memory);
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace knotnet
