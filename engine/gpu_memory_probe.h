// What the driver says about GPU memory, through NVML, loaded at run time (dlopen of
// libnvidia-ml.so.1) so that every binary still starts on a machine without an NVIDIA driver.
// Unlike cudaMemGetInfo, NVML needs no CUDA context: it can look at the card before this process
// makes one (to measure the context's own size) and from a process that never makes one (memcap
// watching its children).
//
// Devices are named by PCI bus id ("0000:19:00.0", what cudaDeviceGetPCIBusId gives), or by
// NVML index when the id is empty. Every query returns nullopt when NVML is not available.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace knotnet {

class GpuMemoryProbe {
 public:
  // The process-wide probe; loads NVML on first use. Never throws.
  static GpuMemoryProbe& get();

  bool available() const { return available_; }
  // Why NVML is not available (empty when it is).
  const std::string& why_unavailable() const { return why_; }

  struct Usage {
    size_t total = 0;
    size_t used = 0;  // by every process on the card, and the driver's own reservations
  };
  std::optional<Usage> device_usage(const std::string& pci_bus_id = "", unsigned index = 0) const;
  // Device memory held by one process (its context and allocations), as nvidia-smi shows it.
  // nullopt also when the process holds nothing on that card, or NVML does not list it (a
  // container without the host's PID namespace) or reports 0 for it.
  std::optional<size_t> process_used(long pid, const std::string& pci_bus_id = "", unsigned index = 0) const;

  GpuMemoryProbe(const GpuMemoryProbe&) = delete;
  GpuMemoryProbe& operator=(const GpuMemoryProbe&) = delete;

 private:
  GpuMemoryProbe();
  ~GpuMemoryProbe();
  void* device_handle(const std::string& pci_bus_id, unsigned index) const;

  bool available_ = false;
  std::string why_;
  void* lib_ = nullptr;
  // NVML entry points (types declared in the .cpp: NVML's header is not part of the toolkit here).
  void* get_by_index_ = nullptr;
  void* get_by_pci_ = nullptr;
  void* memory_info_ = nullptr;
  void* running_processes_ = nullptr;
  void* shutdown_ = nullptr;
};

}  // namespace knotnet
