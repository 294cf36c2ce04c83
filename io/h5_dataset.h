// Opening and validating an image file before anything trains on it: which datasets hold the
// images and the labels, in what layout and element type, how the images are shaped, how the
// labels are encoded, whether the file was finished, and where every row lives (chunk_index.h).
// Every problem is reported as a knotnet::Error that names the file, the dataset and what was
// expected. Labels are read whole at open (4 bytes per image); pixels are read later, a block at
// a time, by the batch reader. Completeness follows io/h5_writer.h: the root attribute
// knotnet_complete (kCompleteAttribute) must be 1 when present; 0 means an unfinished write.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "io/chunk_index.h"
#include "io/chunk_reader.h"
#include "io/h5_handle.h"

namespace knotnet {

struct DatasetOptions {
  std::string data_name = "train_data";
  std::string label_name = "train_label";
  // (H, W, C) of one image; rank 0 means: from the dataset's shape, its image_shape attribute,
  // or inferred for a flat (N, F) dataset whose images are square with 3 or 1 channels.
  Shape image_shape;
  // The number of classes the labels must fit (e.g. the model's outputs); 0: from the file.
  int classes = 0;
};

enum class LabelFormat : uint8_t { indices, one_hot };
const char* label_format_name(LabelFormat f);

struct DatasetInfo {
  std::string path;
  int64_t n = 0;  // images

  // Images.
  std::string data_name;              // "/train_data"
  std::string data_dtype;             // "uint8", "float32"
  std::vector<int64_t> data_shape;    // as stored
  bool flat = false;                  // stored as (N, H*W*C)
  Shape image_shape;                  // (H, W, C)
  std::string image_shape_from;       // how image_shape was found
  PixelType pixel_type = PixelType::u8;
  // float32 pixels: sampled range and the scale that maps them to bytes (255 for 0–1 data).
  float pixel_min = 0, pixel_max = 255, pixel_scale = 1;
  std::string pixel_range;            // "0-255" or "0-1"

  // Storage of the images.
  StorageLayout layout = StorageLayout::other;
  std::vector<int64_t> chunk_shape;   // empty unless chunked
  std::vector<std::string> filters;   // pipeline order
  int deflate_level = -1;
  bool direct = true;                 // read with pread + zlib; else through HDF5
  std::string why_not_direct;
  int64_t block_rows = 0, blocks = 0, chunks = 0;
  uint64_t stored_bytes = 0, raw_bytes = 0;

  // Labels.
  std::string label_name;             // "/train_label"
  std::string label_dtype;
  std::vector<int64_t> label_shape;
  LabelFormat label_format = LabelFormat::indices;
  int classes = 0;
  std::vector<std::string> class_names;  // empty when the file names none
  std::vector<int64_t> class_counts;     // (classes)

  std::string completeness;            // what the completeness marker said
  std::vector<std::string> warnings;   // worth telling the user, not fatal
};

class ImageDataset {
 public:
  // Opens and validates; throws knotnet::Error naming the file and dataset on any problem.
  explicit ImageDataset(const std::string& path, const DatasetOptions& options = {});
  ~ImageDataset();
  ImageDataset(const ImageDataset&) = delete;
  ImageDataset& operator=(const ImageDataset&) = delete;

  const DatasetInfo& info() const { return info_; }
  const ChunkIndex& index() const { return index_; }
  int64_t size() const { return info_.n; }
  int classes() const { return info_.classes; }
  // Class index of every image, (N).
  const std::vector<int32_t>& labels() const { return labels_; }
  // Bytes of one image as delivered: H*W*C uint8.
  size_t sample_bytes() const { return static_cast<size_t>(info_.image_shape.numel()); }
  int64_t block_rows() const { return index_.block_rows; }
  int64_t blocks() const { return index_.blocks; }

  // Block b's rows as bytes, (rows_in_block(b), H, W, C) into `out`; safe from many threads.
  void read_block(int64_t b, uint8_t* out, BlockScratch& scratch) const { reader_->read_block(b, out, scratch); }
  size_t scratch_bytes() const { return reader_->scratch_bytes(); }
  // Plain rows go straight from the file to their destinations (see ChunkReader::read_rows).
  bool rows_are_plain() const { return reader_->rows_are_plain(); }
  void read_rows(int64_t b, const int32_t* rows, uint8_t* const* dst, int64_t n) const { reader_->read_rows(b, rows, dst, n); }

 private:
  void open_metadata(const DatasetOptions& options);

  // HDF5 ids kept open only when rows go through HDF5; closed under hdf5_library_mutex().
  struct LockedIds {
    H5Handle file, data;
    ~LockedIds();
  };

  DatasetInfo info_;
  ChunkIndex index_;
  std::vector<int32_t> labels_;
  struct OwnedFd {
    int fd = -1;
    ~OwnedFd();
  } fd_;
  LockedIds ids_;
  std::unique_ptr<ChunkReader> reader_;
};

// "128,128,3" (or "128x128x3") -> (128, 128, 3); throws naming the text otherwise.
Shape parse_image_shape(const std::string& text);

}  // namespace knotnet
