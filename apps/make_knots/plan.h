// A make_knots run, resolved: the options checked (every bad value gets a message naming the
// option and what it expects), and for --append the file's own layout, size, seed, chunking and
// row count taken from it and checked against whatever was given explicitly.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "apps/make_knots/layout.h"
#include "apps/make_knots/options.h"

namespace knotnet::make_knots {

struct Plan {
  std::filesystem::path out;  // empty: preview only
  std::filesystem::path preview;
  int64_t per_class = 0;
  int size = 128;
  uint64_t seed = 1;
  int threads = 1;
  bool shuffled = false;
  int deflate = 0;
  int64_t chunk = 64;
  bool append = false;
  Layout layout = Layout::native;
  int preview_count = 8;
  uint64_t first_index = 0;                  // global index of the first new row
  std::vector<int64_t> class_counts{0, 0, 0};  // in the file before this run
};

Plan make_plan(const Options& o);

// The class of each new row: per_class of each class, sorted (all unknots, then all plus, then
// all minus trefoils) or in an order shuffled by a permutation drawn from (seed, first_index).
std::vector<uint8_t> row_labels(int64_t per_class, bool shuffled, uint64_t seed, uint64_t first_index);

}  // namespace knotnet::make_knots
