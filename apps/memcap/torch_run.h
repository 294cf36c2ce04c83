// PyTorch's memory for the same model and batch sizes on the same card: runs
// bench/torch_memory.py once for all batch sizes and reads its JSON. When PyTorch, CUDA or the
// script is missing the result says why, and the sweep's PyTorch columns stay empty.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/memcap/options.h"

namespace knotnet::memcap {

// {"status": "measured" | "not measured", "why": ..., "command": ..., "results": [{batch,
// peak_allocated_bytes, peak_reserved_bytes, process_bytes, ...}], "torch": version, "card": ...}
nlohmann::json run_torch_memory(const SweepFlags& f, const std::vector<int64_t>& batches,
                                const std::string& image_shape, const std::filesystem::path& work, double timeout_s,
                                const std::string& argv0);

// The script: --torch-script, else bench/torch_memory.py under the current directory or two
// levels above memcap's own directory (build/bin/memcap). Empty when not found.
std::string find_torch_script(const std::string& flag, const std::string& argv0);

}  // namespace knotnet::memcap
