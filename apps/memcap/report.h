// memcap report: turns the raw results an experiment left in a directory (two_jobs.json,
// sweep.json; either may be missing) into memcap.md (Markdown tables, the card, driver, date and
// the exact commands), two_jobs.csv, sweep.csv, and memory_vs_batch.png (gnuplot: memory
// against batch size, one line per policy and for PyTorch; a one-line notice and no picture
// where gnuplot is missing). Throws when the directory holds neither result.
#pragma once

#include <filesystem>

namespace knotnet::memcap {

void write_report(const std::filesystem::path& dir);

}  // namespace knotnet::memcap
