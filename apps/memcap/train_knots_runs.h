// How memcap runs train_knots: the fit command for one policy, batch size and budget; the plan
// command; and what a finished fit left behind (exit status, the error's first line, the
// memory it held by every measure there is, its throughput), as JSON for the raw results.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "apps/memcap/options.h"
#include "apps/memcap/watched_run.h"

namespace knotnet::memcap {

// train_knots fit ... --alloc ALLOC --epochs E --steps-per-epoch S [--gpu-mem NMiB] --out OUT
std::vector<std::string> fit_argv(const CommonFlags& c, const std::string& alloc, int64_t batch, int64_t steps,
                                  int64_t epochs, std::optional<int64_t> budget_mib, const std::filesystem::path& out);

// train_knots plan for the data's image shape, run to its end; returns its JSON (total_bytes,
// total_bytes_without_reuse, ...) with "command" added. Throws with the plan's error.
nlohmann::json run_plan(const CommonFlags& c, int64_t batch, const std::string& image_shape,
                        const std::filesystem::path& log_dir, double timeout_s);

// What the finished run `r` (a fit writing into `out`) left behind:
//   label, command, status (completed | failed | timed out | killed), exit, error (first line),
//   seconds, device_peak_bytes (NVML), rss_peak_bytes (wait4), summary (the memory and speed
//   fields of summary.json), memory_bytes and memory_source (the one figure the report shows).
// Checkpoints (*.h5) are removed from `out` afterwards: memcap needs only summary.json.
nlohmann::json fit_outcome(const WatchedRun& r, const std::filesystem::path& out, const std::string& device);

// The line of the child's stderr that says what went wrong: the first "train_knots: error: ..."
// line without its prefix, else the last non-empty line. Empty when there is none.
std::string first_error_line(const std::filesystem::path& stderr_log);

// "completed, 1.23 GiB held (NVML), 4,567 img/s, 12.3 s" or "failed (exit 1): <error>".
std::string outcome_text(const nlohmann::json& outcome);

// The image shape of the data file as "H,W,C" (opens and validates the file).
std::string data_image_shape(const std::string& path);

// The directory memcap's executable is in: from argv[0] when it names a path, else from
// /proc/self/exe (memcap found on the PATH).
std::filesystem::path executable_dir(const std::string& argv0);

// Where train_knots is: --train-knots, or beside memcap itself. Throws when it is not there.
std::string find_train_knots(const std::string& flag, const std::string& argv0);

// Reads a JSON file; nullopt when it is missing or does not parse.
std::optional<nlohmann::json> read_json_file(const std::filesystem::path& p);
// Writes JSON atomically (temporary name, then rename).
void write_json_file(const std::filesystem::path& p, const nlohmann::json& j);

}  // namespace knotnet::memcap
