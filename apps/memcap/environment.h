// Where and when an experiment ran, for the report: the card, its driver and memory (from
// nvidia-smi, run as a child: memcap makes no CUDA context), whether NVML can measure the
// children, how memory was measured on this device, the date, and memcap's own command line.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace knotnet::memcap {

nlohmann::json environment_json(const std::string& device, const std::vector<std::string>& memcap_argv);

// The card's total memory in MiB as NVML reports it; 0 when there is no NVML.
int64_t card_total_mib();

// The settings both experiments record: what was trained, and how.
nlohmann::json training_settings_json(const std::string& data, const std::string& image_shape, const std::string& model,
                                      const std::string& optimizer, double lr, const std::string& device);

// How the figures of a run on `device` are measured, in words (for the report).
std::string memory_method(const std::string& device);

}  // namespace knotnet::memcap
