// Inverse filter pipeline for directly read chunks (see chunk_decoder.h). An inflated size that
// differs from the chunk's size is an error, never a silent short read: that is how a corrupt
// chunk is told from a good one when the zlib stream itself happens to be well formed.
#include "io/chunk_decoder.h"

#include <zlib.h>

#include <climits>
#include <cstring>

#include "engine/error.h"

namespace knotnet {

namespace {

void inflate_exact(const uint8_t* in, size_t in_size, uint8_t* out, size_t out_size) {
  KN_CHECK(in_size <= UINT_MAX && out_size <= UINT_MAX, "chunk too large for zlib (", in_size, " bytes)");
  z_stream z{};
  z.next_in = const_cast<Bytef*>(in);
  z.avail_in = static_cast<uInt>(in_size);
  z.next_out = out;
  z.avail_out = static_cast<uInt>(out_size);
  KN_CHECK(inflateInit(&z) == Z_OK, "zlib could not start inflating");
  int ret = inflate(&z, Z_FINISH);
  std::string msg = z.msg ? z.msg : "";
  size_t produced = z.total_out;
  uInt left_out = z.avail_out;
  inflateEnd(&z);
  if (ret == Z_STREAM_END) {
    KN_CHECK(produced == out_size, "corrupt chunk: it inflates to ", produced, " bytes, expected ", out_size);
    return;
  }
  if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT)
    KN_THROW("corrupt chunk: the deflate stream is damaged (zlib: ", msg.empty() ? "data error" : msg, ")");
  if (left_out == 0) KN_THROW("corrupt chunk: it inflates to more than the expected ", out_size, " bytes");
  KN_THROW("corrupt chunk: the deflate stream ends early (", produced, " of ", out_size, " bytes)");
}

}  // namespace

void shuffle_bytes(const uint8_t* in, uint8_t* out, size_t size, size_t element_size) {
  if (size == 0) return;
  if (element_size <= 1 || size < element_size) {
    std::memcpy(out, in, size);
    return;
  }
  size_t n = size / element_size;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < element_size; ++j) out[j * n + i] = in[i * element_size + j];
  std::memcpy(out + n * element_size, in + n * element_size, size - n * element_size);
}

void unshuffle_bytes(const uint8_t* in, uint8_t* out, size_t size, size_t element_size) {
  if (size == 0) return;
  if (element_size <= 1 || size < element_size) {
    std::memcpy(out, in, size);
    return;
  }
  size_t n = size / element_size;
  for (size_t j = 0; j < element_size; ++j) {
    const uint8_t* plane = in + j * n;
    for (size_t i = 0; i < n; ++i) out[i * element_size + j] = plane[i];
  }
  std::memcpy(out + n * element_size, in + n * element_size, size - n * element_size);
}

std::vector<uint8_t> deflate_bytes(const uint8_t* raw, size_t size, int level) {
  uLongf bound = compressBound(static_cast<uLong>(size));
  std::vector<uint8_t> out(bound);
  KN_CHECK(compress2(out.data(), &bound, raw, static_cast<uLong>(size), level) == Z_OK, "zlib compress2 failed");
  out.resize(bound);
  return out;
}

void decode_chunk(const uint8_t* stored, size_t stored_size, uint32_t filter_mask,
                  const std::vector<ChunkFilter>& filters, size_t element_size, uint8_t* out, size_t out_size,
                  std::vector<uint8_t>& scratch) {
  // The filters this chunk went through, last applied first.
  const ChunkFilter* active[32];
  int stages = 0;
  for (size_t i = filters.size(); i-- > 0;)
    if (!(filter_mask & (1u << i))) {
      KN_CHECK(stages < 32, "too many filters in the pipeline");
      active[stages++] = &filters[i];
    }
  if (stages == 0) {
    KN_CHECK(stored_size == out_size, "corrupt chunk: it holds ", stored_size, " bytes, expected ", out_size);
    std::memcpy(out, stored, out_size);
    return;
  }
  // Every handled filter keeps the size after inflation, so each stage writes out_size bytes:
  // alternate between the two halves of scratch, and let the last stage write to `out`.
  if (scratch.size() < 2 * out_size) scratch.resize(2 * out_size);
  const uint8_t* src = stored;
  size_t src_size = stored_size;
  for (int s = 0; s < stages; ++s) {
    uint8_t* dst = s == stages - 1 ? out : scratch.data() + (s % 2) * out_size;
    const ChunkFilter& f = *active[s];
    if (f.id == H5Z_FILTER_DEFLATE) {
      inflate_exact(src, src_size, dst, out_size);
    } else if (f.id == H5Z_FILTER_SHUFFLE) {
      KN_CHECK(src_size == out_size, "corrupt chunk: its shuffled bytes are ", src_size, " long, expected ", out_size);
      size_t elem = f.params.empty() || f.params[0] == 0 ? element_size : f.params[0];
      unshuffle_bytes(src, dst, out_size, elem);
    } else {
      KN_THROW("the ", f.name, " filter cannot be decoded directly");
    }
    src = dst;
    src_size = out_size;
  }
}

}  // namespace knotnet
