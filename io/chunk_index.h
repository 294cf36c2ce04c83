// Where a dataset's rows live in the file: the chunk index is built once, through the HDF5
// library, and then lets worker threads read rows with pread and no HDF5 call at all.
// The unit of reading is a *block*: the rows [b*B, (b+1)*B) for B the chunk's extent along N
// (for a contiguous dataset, a virtual B sized to about 1 MiB). When chunks do not span whole
// rows (h5py's automatic chunking cuts images into tiles), a block is the row of chunks that
// covers those rows, and the reader reassembles it.
#pragma once

#include <hdf5.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace knotnet {

enum class StorageLayout : uint8_t { chunked, contiguous, compact, other };
const char* storage_layout_name(StorageLayout l);

struct ChunkFilter {
  H5Z_filter_t id = 0;
  std::string name;              // "deflate", "shuffle", or what HDF5 calls it
  std::vector<unsigned> params;  // deflate: {level}; shuffle: {element size}
};

// One stored chunk of a block.
struct StoredChunk {
  uint64_t address = 0;      // byte offset in the file
  uint64_t size = 0;         // stored bytes (compressed when filtered)
  uint32_t filter_mask = 0;  // bit i set: filter i of the pipeline was skipped for this chunk
  std::array<int64_t, 4> offset{};  // element coordinates of the chunk's first element
};

struct ChunkIndex {
  StorageLayout layout = StorageLayout::other;
  std::vector<int64_t> dims;   // the dataset's shape, N first
  std::vector<int64_t> chunk;  // the chunk shape (chunked); empty otherwise
  size_t element_size = 1;
  std::vector<ChunkFilter> filters;  // pipeline order (the order they were applied on write)
  // True when rows are read with pread (+ zlib); false when HDF5's own read path must be used
  // (filters other than deflate and shuffle, compact or external storage, big-endian floats).
  bool direct = true;
  std::string why_not_direct;
  int64_t block_rows = 1;        // B
  int64_t blocks = 0;            // ceil(N / B)
  int64_t chunks_per_block = 1;  // chunks covering one block (1 when chunks span whole rows)
  std::vector<StoredChunk> chunks;  // direct & chunked: blocks * chunks_per_block, block-major
  uint64_t contiguous_address = 0;  // direct & contiguous: where row 0 starts
  uint64_t stored_bytes = 0;        // bytes the dataset takes in the file
  uint64_t max_stored_chunk = 0;    // largest single stored chunk

  int64_t rows() const { return dims.empty() ? 0 : dims[0]; }
  int64_t row_elements() const;  // product of dims[1..]
  size_t row_bytes() const { return static_cast<size_t>(row_elements()) * element_size; }
  int64_t rows_in_block(int64_t b) const;
  size_t chunk_bytes() const;  // decoded bytes of one full chunk
  bool deflated() const;
  bool shuffled() const;
  int deflate_level() const;  // -1 when not deflated
};

// Indexes `dataset` (rank >= 1). `where` names it in messages ("/train_data in data.h5").
// Checks that every chunk was written and lies inside the file (file_size bytes): a truncated
// or unfinished file fails here, before any reading starts.
ChunkIndex index_chunks(hid_t dataset, const std::string& where, uint64_t file_size);

}  // namespace knotnet
