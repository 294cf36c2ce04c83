// Block reading for the worker threads (see chunk_reader.h). When a chunk spans whole rows and
// a block is full, the chunk is decoded straight into the caller's buffer; otherwise it goes
// through one scratch chunk and a strided copy.
#include "io/chunk_reader.h"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "engine/error.h"
#include "io/chunk_decoder.h"
#include "io/h5_check.h"
#include "io/h5_handle.h"

namespace knotnet {

std::mutex& hdf5_library_mutex() {
  static std::mutex m;
  return m;
}

void pread_exact(int fd, uint8_t* out, size_t size, uint64_t offset, const std::string& what) {
  size_t done = 0;
  while (done < size) {
    ssize_t got = ::pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    KN_CHECK(got >= 0, "cannot read ", what, ": ", std::strerror(errno));
    KN_CHECK(got > 0, "cannot read ", what, ": the file ends at byte ", offset + done, " (was it truncated?)");
    done += static_cast<size_t>(got);
  }
}

void preadv_exact(int fd, uint8_t* const* out, int64_t count, size_t each, uint64_t offset, const std::string& what) {
  constexpr int64_t kMaxIov = 512;  // well under IOV_MAX
  struct iovec iov[kMaxIov];
  for (int64_t first = 0; first < count; first += kMaxIov) {
    const int64_t n = std::min(kMaxIov, count - first);
    for (int64_t i = 0; i < n; ++i) iov[i] = {out[first + i], each};
    size_t want = static_cast<size_t>(n) * each, done = 0;
    uint64_t at = offset + static_cast<uint64_t>(first) * each;
    struct iovec* v = iov;
    int left = static_cast<int>(n);
    while (done < want) {
      ssize_t got = ::preadv(fd, v, left, static_cast<off_t>(at + done));
      if (got < 0 && errno == EINTR) continue;
      KN_CHECK(got >= 0, "cannot read ", what, ": ", std::strerror(errno));
      KN_CHECK(got > 0, "cannot read ", what, ": the file ends at byte ", at + done, " (was it truncated?)");
      done += static_cast<size_t>(got);
      // Skip the buffers filled, and trim a partly filled one.
      size_t g = static_cast<size_t>(got);
      while (left > 0 && g >= v->iov_len) {
        g -= v->iov_len;
        ++v;
        --left;
      }
      if (left > 0 && g > 0) {
        v->iov_base = static_cast<uint8_t*>(v->iov_base) + g;
        v->iov_len -= g;
      }
    }
  }
}

void floats_to_bytes(const float* in, uint8_t* out, int64_t n, float scale) {
  for (int64_t i = 0; i < n; ++i) {
    float v = in[i] * scale + 0.5f;
    // NaN fails both comparisons and lands on 0.
    out[i] = v >= 255.0f ? uint8_t{255} : (v >= 1.0f ? static_cast<uint8_t>(v) : uint8_t{0});
  }
}

ChunkReader::ChunkReader(const ChunkIndex& index, int fd, hid_t dataset, PixelFormat format, std::string where)
    : index_(index), fd_(fd), dataset_(dataset), format_(format), where_(std::move(where)) {
  KN_CHECK(format_.type != PixelType::f32 || index_.element_size == 4, where_, ": float pixels must be 4 bytes");
  KN_CHECK(format_.type != PixelType::u8 || index_.element_size == 1, where_, ": byte pixels must be 1 byte");
  const bool whole_row_chunks =
      index_.layout == StorageLayout::chunked && index_.chunks_per_block == 1 &&
      std::equal(index_.chunk.begin() + 1, index_.chunk.end(), index_.dims.begin() + 1);
  plain_rows_ = index_.direct && format_.type == PixelType::u8 && index_.filters.empty() &&
                (index_.layout == StorageLayout::contiguous || whole_row_chunks);
}

void ChunkReader::read_rows(int64_t b, const int32_t* rows, uint8_t* const* dst, int64_t n) const {
  KN_CHECK(plain_rows_, "internal error: read_rows on rows that are not stored plainly in ", where_);
  KN_CHECK(b >= 0 && b < index_.blocks, "block ", b, " out of range for ", where_);
  const size_t row_bytes = index_.row_bytes();
  uint64_t base = 0;
  if (index_.layout == StorageLayout::contiguous) {
    base = index_.contiguous_address + static_cast<uint64_t>(b * index_.block_rows) * row_bytes;
  } else {
    const StoredChunk& c = index_.chunks[static_cast<size_t>(b)];
    KN_CHECK(c.size == index_.chunk_bytes(), rows_text(b), ": corrupt chunk: it holds ", c.size, " bytes, expected ",
             index_.chunk_bytes());
    base = c.address;
  }
  try {
    for (int64_t i = 0; i < n;) {
      int64_t j = i + 1;  // a run of consecutive rows
      while (j < n && rows[j] == rows[j - 1] + 1) ++j;
      KN_CHECK(rows[i] >= 0 && rows[j - 1] < index_.rows_in_block(b), "row ", rows[j - 1], " out of block ", b);
      preadv_exact(fd_, dst + i, j - i, row_bytes, base + static_cast<uint64_t>(rows[i]) * row_bytes, "rows");
      i = j;
    }
  } catch (const Error& e) {
    KN_THROW(rows_text(b), ": ", e.what());
  }
}

std::string ChunkReader::rows_text(int64_t b) const {
  int64_t first = b * index_.block_rows;
  return "rows " + std::to_string(first) + ".." + std::to_string(first + index_.rows_in_block(b) - 1) + " of " + where_;
}

size_t ChunkReader::scratch_bytes() const {
  size_t block = static_cast<size_t>(index_.block_rows) * index_.row_bytes();
  size_t chunk = index_.layout == StorageLayout::chunked ? index_.chunk_bytes() : 0;
  return index_.max_stored_chunk + chunk + block + (index_.filters.empty() ? 0 : 2 * chunk);
}

void ChunkReader::read_chunk_into(const StoredChunk& c, uint8_t* out, BlockScratch& s) const {
  const size_t raw = index_.chunk_bytes();
  if (index_.filters.empty()) {
    KN_CHECK(c.size == raw, "corrupt chunk: it holds ", c.size, " bytes, expected ", raw);
    pread_exact(fd_, out, raw, c.address, "a chunk");
    return;
  }
  if (s.stored.size() < c.size) s.stored.resize(c.size);
  pread_exact(fd_, s.stored.data(), c.size, c.address, "a chunk");
  decode_chunk(s.stored.data(), c.size, c.filter_mask, index_.filters, index_.element_size, out, raw, s.filter);
}

void ChunkReader::read_hdf5(int64_t b, uint8_t* out) const {
  std::lock_guard<std::mutex> lock(hdf5_library_mutex());
  const int rank = static_cast<int>(index_.dims.size());
  hsize_t start[4] = {}, count[4] = {};
  for (int d = 0; d < rank; ++d) count[d] = static_cast<hsize_t>(index_.dims[d]);
  start[0] = static_cast<hsize_t>(b * index_.block_rows);
  count[0] = static_cast<hsize_t>(index_.rows_in_block(b));
  H5Handle file_space(KN_H5_CHECK(H5Dget_space(dataset_)), H5Sclose);
  KN_H5_CHECK(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr));
  H5Handle mem_space(KN_H5_CHECK(H5Screate_simple(rank, count, nullptr)), H5Sclose);
  hid_t mem_type = format_.type == PixelType::u8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT;
  KN_H5_CHECK(H5Dread(dataset_, mem_type, mem_space, file_space, H5P_DEFAULT, out));
}

void ChunkReader::read_block_raw(int64_t b, uint8_t* out, BlockScratch& s) const {
  KN_CHECK(b >= 0 && b < index_.blocks, "block ", b, " out of range for ", where_);
  const int64_t rows = index_.rows_in_block(b);
  const size_t row_bytes = index_.row_bytes();
  try {
    if (!index_.direct) {
      read_hdf5(b, out);
      return;
    }
    if (index_.layout == StorageLayout::contiguous) {
      uint64_t offset = index_.contiguous_address + static_cast<uint64_t>(b * index_.block_rows) * row_bytes;
      pread_exact(fd_, out, static_cast<size_t>(rows) * row_bytes, offset, "rows");
      return;
    }
    const StoredChunk* chunks = &index_.chunks[static_cast<size_t>(b * index_.chunks_per_block)];
    const int rank = static_cast<int>(index_.dims.size());
    const bool whole_rows = index_.chunks_per_block == 1 &&
                            std::equal(index_.chunk.begin() + 1, index_.chunk.end(), index_.dims.begin() + 1);
    if (whole_rows && rows == index_.chunk[0]) {
      read_chunk_into(chunks[0], out, s);
      return;
    }
    if (s.chunk.size() < index_.chunk_bytes()) s.chunk.resize(index_.chunk_bytes());
    // Valid extent of each chunk inside the block, then a strided copy of its innermost runs.
    for (int64_t t = 0; t < index_.chunks_per_block; ++t) {
      const StoredChunk& c = chunks[t];
      read_chunk_into(c, s.chunk.data(), s);
      int64_t ext[4] = {1, 1, 1, 1}, cdim[4] = {1, 1, 1, 1}, bdim[4] = {1, 1, 1, 1}, off[4] = {0, 0, 0, 0};
      for (int d = 0; d < rank; ++d) {
        cdim[d] = index_.chunk[d];
        bdim[d] = d == 0 ? rows : index_.dims[d];
        off[d] = d == 0 ? 0 : c.offset[d];
        ext[d] = std::min(cdim[d], bdim[d] - off[d]);
      }
      const size_t es = index_.element_size;
      const size_t run = static_cast<size_t>(ext[rank - 1]) * es;
      // Odometer over the outer (rank - 1) dimensions, padded to 3.
      int64_t idx[3] = {0, 0, 0}, lim[3] = {1, 1, 1};
      for (int d = 0; d < rank - 1; ++d) lim[3 - (rank - 1) + d] = ext[d];
      auto dim_of = [&](int k) { return k - (3 - (rank - 1)); };  // odometer slot -> dataset dim
      for (idx[0] = 0; idx[0] < lim[0]; ++idx[0])
        for (idx[1] = 0; idx[1] < lim[1]; ++idx[1])
          for (idx[2] = 0; idx[2] < lim[2]; ++idx[2]) {
            int64_t src = 0, dst = 0;
            for (int k = 0; k < 3; ++k) {
              int d = dim_of(k);
              if (d < 0) continue;
              src = src * cdim[d] + idx[k];
              dst = dst * bdim[d] + off[d] + idx[k];
            }
            src = src * cdim[rank - 1];
            dst = dst * bdim[rank - 1] + off[rank - 1];
            std::memcpy(out + static_cast<size_t>(dst) * es, s.chunk.data() + static_cast<size_t>(src) * es, run);
          }
    }
  } catch (const Error& e) {
    KN_THROW(rows_text(b), ": ", e.what());
  }
}

void ChunkReader::read_block(int64_t b, uint8_t* out, BlockScratch& s) const {
  if (format_.type == PixelType::u8) {
    read_block_raw(b, out, s);
    return;
  }
  const int64_t elems = index_.rows_in_block(b) * index_.row_elements();
  const size_t bytes = static_cast<size_t>(elems) * sizeof(float);
  if (s.raw.size() < bytes) s.raw.resize(bytes);
  read_block_raw(b, s.raw.data(), s);
  floats_to_bytes(reinterpret_cast<const float*>(s.raw.data()), out, elems, format_.scale);
}

}  // namespace knotnet
