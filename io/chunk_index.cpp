// Builds the chunk index (see chunk_index.h). Chunks are looked up by coordinate
// (H5Dget_chunk_info_by_coord, a B-tree lookup each) rather than by ordinal
// (H5Dget_chunk_info walks the index from the start on every call, quadratic in chunk count).
#include "io/chunk_index.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/format.h"
#include "io/h5_check.h"
#include "io/h5_handle.h"

namespace knotnet {

namespace {

constexpr size_t kContiguousBlockBytes = size_t{1} << 20;

std::string filter_label(H5Z_filter_t id, const char* hdf5_name) {
  switch (id) {
    case H5Z_FILTER_DEFLATE: return "deflate";
    case H5Z_FILTER_SHUFFLE: return "shuffle";
    case H5Z_FILTER_FLETCHER32: return "fletcher32";
    case H5Z_FILTER_SZIP: return "szip";
    case H5Z_FILTER_NBIT: return "nbit";
    case H5Z_FILTER_SCALEOFFSET: return "scaleoffset";
    default: break;
  }
  std::string name = hdf5_name && *hdf5_name ? hdf5_name : "unknown";
  return name + " (filter " + std::to_string(id) + ")";
}

std::vector<ChunkFilter> read_filters(hid_t dcpl) {
  std::vector<ChunkFilter> out;
  int n = KN_H5_CHECK(H5Pget_nfilters(dcpl));
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0, config = 0;
    size_t nparams = 8;
    unsigned params[8] = {};
    char name[64] = {};
    H5Z_filter_t id = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &nparams, params, sizeof name, name, &config);
    KN_CHECK(id >= 0, "cannot read filter ", i, " of the dataset's filter pipeline");
    ChunkFilter f;
    f.id = id;
    f.name = filter_label(id, name);
    f.params.assign(params, params + std::min<size_t>(nparams, 8));
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

const char* storage_layout_name(StorageLayout l) {
  switch (l) {
    case StorageLayout::chunked: return "chunked";
    case StorageLayout::contiguous: return "contiguous";
    case StorageLayout::compact: return "compact";
    case StorageLayout::other: return "other";
  }
  return "?";
}

int64_t ChunkIndex::row_elements() const {
  int64_t n = 1;
  for (size_t i = 1; i < dims.size(); ++i) n *= dims[i];
  return n;
}

int64_t ChunkIndex::rows_in_block(int64_t b) const {
  return std::min(block_rows, rows() - b * block_rows);
}

size_t ChunkIndex::chunk_bytes() const {
  size_t n = element_size;
  for (int64_t c : chunk) n *= static_cast<size_t>(c);
  return n;
}

bool ChunkIndex::deflated() const { return deflate_level() >= 0; }

bool ChunkIndex::shuffled() const {
  return std::any_of(filters.begin(), filters.end(), [](const ChunkFilter& f) { return f.id == H5Z_FILTER_SHUFFLE; });
}

int ChunkIndex::deflate_level() const {
  for (const ChunkFilter& f : filters)
    if (f.id == H5Z_FILTER_DEFLATE) return f.params.empty() ? 0 : static_cast<int>(f.params[0]);
  return -1;
}

ChunkIndex index_chunks(hid_t dataset, const std::string& where, uint64_t file_size) {
  ChunkIndex idx;
  H5Handle space(KN_H5_CHECK(H5Dget_space(dataset)), H5Sclose);
  int rank = KN_H5_CHECK(H5Sget_simple_extent_ndims(space));
  KN_CHECK(rank >= 1 && rank <= 4, where, ": expected a dataset of rank 1 to 4, found rank ", rank);
  hsize_t dims[4] = {};
  KN_H5_CHECK(H5Sget_simple_extent_dims(space, dims, nullptr));
  idx.dims.assign(dims, dims + rank);

  H5Handle type(KN_H5_CHECK(H5Dget_type(dataset)), H5Tclose);
  idx.element_size = H5Tget_size(type);
  KN_CHECK(idx.element_size > 0, where, ": cannot read the element size");
  if (idx.element_size > 1 && H5Tget_order(type) != H5T_ORDER_LE) {
    idx.direct = false;
    idx.why_not_direct = "its elements are big-endian (HDF5 converts them)";
  }

  H5Handle dcpl(KN_H5_CHECK(H5Dget_create_plist(dataset)), H5Pclose);
  H5D_layout_t layout = H5Pget_layout(dcpl);
  KN_CHECK(layout >= 0, where, ": cannot read the storage layout");
  idx.filters = read_filters(dcpl);
  for (const ChunkFilter& f : idx.filters)
    if (f.id != H5Z_FILTER_DEFLATE && f.id != H5Z_FILTER_SHUFFLE && idx.direct) {
      idx.direct = false;
      idx.why_not_direct = "it uses the " + f.name + " filter, which only HDF5's own read path decodes";
    }

  const int64_t n = idx.rows();
  const size_t row_bytes = idx.row_bytes();
  if (layout == H5D_CHUNKED) {
    idx.layout = StorageLayout::chunked;
    hsize_t cdims[4] = {};
    KN_CHECK(H5Pget_chunk(dcpl, rank, cdims) == rank, where, ": cannot read the chunk shape");
    idx.chunk.assign(cdims, cdims + rank);
    idx.block_rows = std::max<int64_t>(1, idx.chunk[0]);
  } else {
    idx.layout = layout == H5D_CONTIGUOUS ? StorageLayout::contiguous
                 : layout == H5D_COMPACT  ? StorageLayout::compact
                                          : StorageLayout::other;
    idx.block_rows = std::max<int64_t>(1, static_cast<int64_t>(kContiguousBlockBytes / std::max<size_t>(row_bytes, 1)));
    if (idx.layout == StorageLayout::compact && idx.direct) {
      idx.direct = false;
      idx.why_not_direct = "it is stored compactly inside the file's metadata";
    } else if (idx.layout == StorageLayout::other && idx.direct) {
      idx.direct = false;
      idx.why_not_direct = "its storage layout is virtual or unknown";
    }
    if (idx.layout == StorageLayout::contiguous && idx.direct && KN_H5_CHECK(H5Pget_external_count(dcpl)) > 0) {
      idx.direct = false;
      idx.why_not_direct = "its rows are stored in external files";
    }
  }
  idx.blocks = n == 0 ? 0 : (n + idx.block_rows - 1) / idx.block_rows;
  idx.stored_bytes = H5Dget_storage_size(dataset);
  if (n == 0) return idx;

  if (idx.layout == StorageLayout::contiguous) {
    haddr_t addr = H5Dget_offset(dataset);
    KN_CHECK(addr != HADDR_UNDEF, where, ": no rows were ever written (contiguous storage not allocated)");
    uint64_t end = addr + static_cast<uint64_t>(n) * row_bytes;
    KN_CHECK(end <= file_size, where, ": the file is truncated: the dataset's rows end at byte ", end,
             " but the file has ", file_size, " bytes");
    idx.contiguous_address = addr;
    idx.max_stored_chunk = std::min<uint64_t>(row_bytes * idx.block_rows, row_bytes * n);
    return idx;
  }
  if (idx.layout != StorageLayout::chunked) return idx;

  // Chunk grid: blocks along N, times the grid of chunks across one row.
  std::vector<int64_t> per_dim(rank);
  for (int d = 0; d < rank; ++d) per_dim[d] = (idx.dims[d] + idx.chunk[d] - 1) / idx.chunk[d];
  idx.chunks_per_block = 1;
  for (int d = 1; d < rank; ++d) idx.chunks_per_block *= per_dim[d];
  const int64_t total = idx.blocks * idx.chunks_per_block;

  hsize_t written = 0;
  KN_H5_CHECK(H5Dget_num_chunks(dataset, space, &written));
  KN_CHECK(static_cast<int64_t>(written) >= total, where, ": only ", format_count(static_cast<int64_t>(written)),
           " of its ", format_count(total), " chunks were ever written; the file looks unfinished "
           "(was the program that wrote it interrupted?)");

  idx.chunks.resize(static_cast<size_t>(total));
  for (int64_t b = 0; b < idx.blocks; ++b) {
    for (int64_t t = 0; t < idx.chunks_per_block; ++t) {
      StoredChunk& c = idx.chunks[static_cast<size_t>(b * idx.chunks_per_block + t)];
      // Trailing coordinates of chunk t in row-major order over the trailing chunk grid.
      int64_t rest = t;
      for (int d = rank - 1; d >= 1; --d) {
        c.offset[d] = (rest % per_dim[d]) * idx.chunk[d];
        rest /= per_dim[d];
      }
      c.offset[0] = b * idx.chunk[0];
      hsize_t coord[4] = {};
      for (int d = 0; d < rank; ++d) coord[d] = static_cast<hsize_t>(c.offset[d]);
      unsigned mask = 0;
      haddr_t addr = HADDR_UNDEF;
      hsize_t size = 0;
      KN_H5_CHECK(H5Dget_chunk_info_by_coord(dataset, coord, &mask, &addr, &size));
      KN_CHECK(addr != HADDR_UNDEF && size > 0, where, ": rows ", b * idx.block_rows, "..",
               b * idx.block_rows + idx.rows_in_block(b) - 1,
               " were never written (their chunk is missing); the file looks unfinished");
      KN_CHECK(addr + size <= file_size, where, ": the file is truncated: the chunk holding rows ",
               b * idx.block_rows, "..", b * idx.block_rows + idx.rows_in_block(b) - 1, " ends at byte ",
               addr + size, " but the file has ", file_size, " bytes");
      c.address = addr;
      c.size = size;
      c.filter_mask = mask;
      idx.max_stored_chunk = std::max<uint64_t>(idx.max_stored_chunk, size);
    }
  }
  return idx;
}

}  // namespace knotnet
