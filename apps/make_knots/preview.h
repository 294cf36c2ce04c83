// The preview grid: one row per class, the first few samples of that class as they are (or
// would be) stored, each captioned with its class, its curve kind and its writhe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace knotnet::make_knots {

// Renders, for each class, the first `per_class` rows of that class among `labels` (row r is
// global sample index first_index + r) and writes the captioned grid to the PNG file `path`.
void write_preview(const std::string& path, uint64_t seed, int size, uint64_t first_index, const std::vector<uint8_t>& labels,
                   int per_class);

}  // namespace knotnet::make_knots
