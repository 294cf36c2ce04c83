// Reads one block of rows (see chunk_index.h) as uint8 pixels, from any thread at once: pread
// of the stored chunks, decode (chunk_decoder.h), reassembly when chunks tile the rows, and
// conversion of float pixels to bytes. Datasets the direct path cannot read go through
// H5Dread instead, one thread at a time behind hdf5_library_mutex(), because the serial HDF5
// library is not thread-safe.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "io/chunk_index.h"

namespace knotnet {

// Serialises every HDF5 call the reader makes once worker threads run.
std::mutex& hdf5_library_mutex();

enum class PixelType : uint8_t { u8, f32 };

// How stored pixels become bytes: u8 as is; f32 times `scale` (255 for 0–1 data, 1 for 0–255
// data), rounded to nearest and clamped to 0..255, NaN to 0.
struct PixelFormat {
  PixelType type = PixelType::u8;
  float scale = 1.0f;
};

// Per-thread buffers, grown on first use and reused.
struct BlockScratch {
  std::vector<uint8_t> stored;  // one stored chunk as read from the file
  std::vector<uint8_t> chunk;   // one decoded chunk (when chunks tile rows)
  std::vector<uint8_t> raw;     // one block in the file's element type
  std::vector<uint8_t> filter;  // decode_chunk's scratch
};

class ChunkReader {
 public:
  // `index` must outlive the reader; `fd` is an open descriptor of the file (direct path);
  // `dataset` an open HDF5 dataset id (HDF5 path; may be invalid when index.direct).
  // `where` names the dataset in messages ("/train_data in data.h5").
  ChunkReader(const ChunkIndex& index, int fd, hid_t dataset, PixelFormat format, std::string where);

  // Block b as bytes: out holds rows_in_block(b) * row_elements() uint8 values.
  void read_block(int64_t b, uint8_t* out, BlockScratch& s) const;
  // Block b in the file's element type (rows_in_block(b) * row_bytes() bytes).
  void read_block_raw(int64_t b, uint8_t* out, BlockScratch& s) const;
  // True when rows are stored as plain bytes, whole and in order (uint8, no filters, contiguous
  // or chunks spanning whole rows, direct path): then read_rows can put each row straight into
  // its destination, one copy instead of two.
  bool rows_are_plain() const { return plain_rows_; }
  // Rows rows[0..n) of block b (ascending, relative to the block) into dst[0..n), with one
  // preadv per run of consecutive rows. Only when rows_are_plain().
  void read_rows(int64_t b, const int32_t* rows, uint8_t* const* dst, int64_t n) const;
  // Bytes of per-thread scratch a worker needs at most (for memory accounting).
  size_t scratch_bytes() const;

 private:
  void read_chunk_into(const StoredChunk& c, uint8_t* out, BlockScratch& s) const;
  void read_hdf5(int64_t b, uint8_t* out) const;
  std::string rows_text(int64_t b) const;

  const ChunkIndex& index_;
  int fd_;
  hid_t dataset_;
  PixelFormat format_;
  std::string where_;
  bool plain_rows_ = false;
};

// Reads exactly `size` bytes at `offset`; throws naming `what` on a short read or I/O error.
void pread_exact(int fd, uint8_t* out, size_t size, uint64_t offset, const std::string& what);
// The same for `count` buffers of `each` bytes, filled in order from `offset` (preadv).
void preadv_exact(int fd, uint8_t* const* out, int64_t count, size_t each, uint64_t offset, const std::string& what);

// float pixels -> bytes as described at PixelFormat.
void floats_to_bytes(const float* in, uint8_t* out, int64_t n, float scale);

}  // namespace knotnet
