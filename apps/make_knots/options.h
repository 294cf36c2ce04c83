// make_knots' command-line options as parsed, before they are checked and resolved into a Plan.
#pragma once

#include <cstdint>
#include <string>

namespace knotnet::make_knots {

struct Options {
  std::string out;
  int64_t per_class = 0;
  int size = 128;
  uint64_t seed = 1;
  int threads = 0;  // 0: all cores
  std::string order = "sorted";
  int deflate = 0;
  int64_t chunk = 64;
  bool append = false;
  std::string layout = "native";
  std::string preview;
  int preview_count = 8;
  // Which options were given on the command line (an append takes the rest from the file).
  bool given_per_class = false, given_size = false, given_seed = false, given_deflate = false, given_chunk = false,
       given_layout = false;
};

}  // namespace knotnet::make_knots
