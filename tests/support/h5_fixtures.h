// Image files for the reader's tests, written with the HDF5 C API: any layout the reader
// accepts (images or flat rows, uint8 or float pixels, chunked or contiguous, deflate and
// shuffle, index or one-hot labels, sorted by class or not), with pixels that say which row
// they belong to, so that a test can check every delivered image against its label and row.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace knotnet::test {

enum class LabelKind { indices_u8, indices_i64, onehot_f32, onehot_i32 };

struct ImageFileSpec {
  int64_t n = 600;
  int64_t height = 8, width = 8, channels = 3;
  bool flat = false;                 // (N, H*W*C) instead of (N, H, W, C)
  bool float_pixels = false;         // float32 instead of uint8
  bool unit_range = true;            // float pixels as x/255 (else as 0-255 values)
  std::vector<int64_t> chunk;        // chunk shape (rank of the data); empty: contiguous
  int deflate = -1;                  // deflate level, -1: none
  bool shuffle = false;              // HDF5's shuffle filter (before deflate)
  LabelKind labels = LabelKind::indices_u8;
  int classes = 3;
  bool sorted = true;                // rows sorted by class, in equal runs (else random classes)
  std::string data_name = "train_data", label_name = "train_label";
  int complete = -1;                 // value of the completeness attribute; -1: leave it out
  std::vector<std::string> class_names;  // written as the label dataset's class_names attribute
  uint64_t seed = 1;
};

// Writes the file (in slabs, so memory stays small for large files); returns the labels.
std::vector<int32_t> write_image_file(const std::filesystem::path& path, const ImageFileSpec& spec);

// Pixel i of image `row`: mostly a row-dependent background with sparse random dots (so deflate
// has something to do), and the row number itself in the first four bytes.
uint8_t fixture_pixel(int64_t row, int64_t i, uint64_t seed);
// True when `image` (elements bytes) is exactly image `row` of a fixture written with `seed`.
bool image_is_row(const uint8_t* image, int64_t elements, int64_t row, uint64_t seed);
// The class of `row` in a fixture of n rows.
int32_t fixture_label(int64_t row, int64_t n, int classes, bool sorted, uint64_t seed);

// True when /usr/bin/python3 can import `module` (h5py, tables).
bool python_has(const std::string& module);
// Runs a Python script with /usr/bin/python3; returns its exit status, output in `output`.
int run_python(const std::string& script, std::string* output = nullptr);

}  // namespace knotnet::test
