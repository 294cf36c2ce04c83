// Turns a chunk's stored bytes, read straight from the file, back into its raw elements: the
// inverse of HDF5's filter pipeline for the filters the reader handles itself (deflate and
// shuffle), applied in reverse pipeline order and honouring the chunk's filter mask (HDF5 skips
// deflate for a chunk it could not shrink). Deflate is inflated with zlib on the calling thread,
// which is what lets several workers decompress at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "io/chunk_index.h"

namespace knotnet {

// Decodes `stored` (stored_size bytes) into exactly out_size bytes at `out`. `scratch` is
// reused between calls (one per thread). Throws knotnet::Error describing what was wrong with
// the bytes; the caller adds which chunk of which file it was.
void decode_chunk(const uint8_t* stored, size_t stored_size, uint32_t filter_mask,
                  const std::vector<ChunkFilter>& filters, size_t element_size, uint8_t* out, size_t out_size,
                  std::vector<uint8_t>& scratch);

// zlib-format deflate of `raw`, as HDF5's deflate filter stores it (for tests and benchmarks).
std::vector<uint8_t> deflate_bytes(const uint8_t* raw, size_t size, int level);
// HDF5's shuffle filter: byte j of element i goes to j*n + i; trailing partial bytes stay.
void shuffle_bytes(const uint8_t* in, uint8_t* out, size_t size, size_t element_size);
void unshuffle_bytes(const uint8_t* in, uint8_t* out, size_t size, size_t element_size);

}  // namespace knotnet
