// Writes a plan's new rows: renders blocks of images on the worker threads while the main
// thread writes the previous block, so at most two blocks are ever held in memory.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "apps/make_knots/plan.h"

namespace knotnet::make_knots {

// Rows per block: a whole number of chunks, at least 256 rows.
int64_t block_rows(int64_t chunk);

// Appends the rows whose classes are `labels` to the plan's file (creating it unless
// plan.append) and commits it. Stops with an error, leaving no file that looks complete, when
// `interrupted` becomes true. Returns the number of rows the file holds afterwards.
int64_t write_dataset(const Plan& plan, const std::vector<uint8_t>& labels, const std::atomic<bool>& interrupted);

}  // namespace knotnet::make_knots
