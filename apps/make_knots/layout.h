// The two file layouts make_knots writes, their root attributes, and the checks that decide
// whether an existing file can be appended to.
//   native: /train_data uint8 (N, H, W, 3), /train_label uint8 (N,) holding 0, 1, 2
//   seed:   /train_data uint8 (N, H*W*3),   /train_label float32 (N, 3) one-hot
// (the "seed" layout is what the original question's file held).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "io/h5_writer.h"

namespace knotnet::make_knots {

enum class Layout { native, seed };
const char* layout_name(Layout l);
Layout parse_layout(const std::string& s);

inline constexpr const char kDataName[] = "/train_data";
inline constexpr const char kLabelName[] = "/train_label";
inline constexpr const char kGeneratorName[] = "knotnet make_knots";
inline constexpr int64_t kLabelChunkRows = 4096;

// The datasets of a new file: images chunked `chunk` rows at a time, labels kLabelChunkRows.
std::vector<AppendableDataset> layout_datasets(Layout layout, int size, int64_t chunk, int deflate);

// Labels of `n` rows (class indices 0..2) in the layout's encoding, as bytes ready to append.
std::vector<uint8_t> encode_labels(Layout layout, const uint8_t* labels, int64_t n);

// What an existing make_knots file says about itself, checked for consistency.
struct FileFacts {
  Layout layout = Layout::native;
  int size = 0;
  uint64_t seed = 0;
  int64_t rows = 0;
  int64_t chunk = 0;
  int deflate = 0;
  std::vector<int64_t> class_counts;
};
// Throws with a message naming the file unless it is a complete make_knots file of this
// generator version whose datasets match its recorded layout and image size.
FileFacts read_file_facts(const std::filesystem::path& path);

// Root attributes: generator, generator_version, seed, class_names, layout, image_size,
// class_counts.
void write_attributes(H5AppendWriter& w, Layout layout, int size, uint64_t seed, const std::vector<int64_t>& class_counts);

}  // namespace knotnet::make_knots
