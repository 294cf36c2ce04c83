// Appendable HDF5 files: chunked datasets that grow along their first axis as blocks of rows are
// appended, root attributes, and a completeness marker that readers must check.
//
// The completeness marker is the root attribute "knotnet_complete" (kCompleteAttribute), an
// integer scalar:
//   1       every dataset holds all its rows and every attribute is final;
//   0       a write was under way and did not finish: readers must reject the file;
//   absent  the file was not written by knotnet (e.g. by PyTables); readers judge it by its
//           datasets alone.
//
// Crash safety (a process killed at any instant, not power loss: nothing is fsync'd):
// - create: the file is written under a temporary sibling name, "<name>.partial-<pid>", whose
//   marker is 0 from the moment it exists; commit() sets it to 1, closes the file and only then
//   links it to its final name. A killed run leaves no file at the final name (and a ".partial"
//   file that readers reject).
// - append: the existing file is copied to such a temporary sibling, the copy is marked 0,
//   rows are appended to the copy, the copy is marked 1, closed and renamed over the original
//   (rename is atomic). A killed run leaves the original file untouched. The price is one copy
//   of the file per append, and room on the disk for two.
#pragma once

#include <cstdint>
#include <filesystem>
#include <hdf5.h>
#include <map>
#include <string>
#include <vector>

namespace knotnet {

inline constexpr const char kCompleteAttribute[] = "knotnet_complete";

enum class H5Element : uint8_t { u8, f32 };
const char* h5_element_name(H5Element e);  // "uint8", "float32"
size_t h5_element_size(H5Element e);

// A dataset that grows along its first axis.
struct AppendableDataset {
  std::string name;                // absolute path in the file, e.g. "/train_data"
  H5Element element = H5Element::u8;
  std::vector<int64_t> row_shape;  // shape of one row: {128, 128, 3}, {49152}, {3} or {}
  int64_t chunk_rows = 64;         // rows per chunk
  int deflate = 0;                 // 0 = stored uncompressed, 1..9 = deflate level
  int64_t rows = 0;                // rows present (filled in when read from a file)

  int64_t row_elements() const;
  // "(N, 128, 128, 3) uint8" style description, with the current row count for N.
  std::string describe() const;
};

enum class Completeness { Complete, Incomplete, Unmarked };

// The completeness marker of an existing file; throws naming the file if it is not HDF5.
Completeness read_completeness(const std::filesystem::path& path);

// Read access to an existing file's appendable datasets and root attributes, for checking a
// file before appending to it (and for tests).
class H5FileView {
 public:
  explicit H5FileView(const std::filesystem::path& path);
  ~H5FileView();
  H5FileView(const H5FileView&) = delete;
  H5FileView& operator=(const H5FileView&) = delete;

  bool has_dataset(const std::string& name) const;
  // Shape, element type, chunking, deflate level and row count; throws if the dataset is not
  // a chunked uint8 or float32 dataset whose first axis is unlimited.
  AppendableDataset dataset(const std::string& name) const;
  // Reads rows [first, first + count) into `out` (count * row_elements elements).
  void read_rows(const std::string& name, int64_t first, int64_t count, void* out) const;

  bool has_attribute(const std::string& name) const;
  int64_t int_attribute(const std::string& name) const;
  uint64_t uint_attribute(const std::string& name) const;
  std::string string_attribute(const std::string& name) const;
  std::vector<int64_t> ints_attribute(const std::string& name) const;
  std::vector<std::string> strings_attribute(const std::string& name) const;

 private:
  std::filesystem::path path_;
  hid_t file_ = -1;
};

class H5AppendWriter {
 public:
  // Starts a new file at `path`, which must not exist, with the given (empty) datasets.
  static H5AppendWriter create(const std::filesystem::path& path, const std::vector<AppendableDataset>& datasets);
  // Starts appending to the existing file at `path` (marked complete, or unmarked), to the
  // datasets named `names`.
  static H5AppendWriter append(const std::filesystem::path& path, const std::vector<std::string>& names);

  H5AppendWriter(H5AppendWriter&& o) noexcept;
  H5AppendWriter& operator=(H5AppendWriter&&) = delete;
  H5AppendWriter(const H5AppendWriter&) = delete;
  // Without commit(): closes and deletes the temporary file; the final path is untouched.
  ~H5AppendWriter();

  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  const AppendableDataset& dataset(const std::string& name) const;
  int64_t rows(const std::string& name) const { return dataset(name).rows; }

  // Appends `count` rows (count * row_elements elements of the dataset's type) to `name`.
  // HDF5 runs the dataset's filters (deflate) on this thread.
  void append_rows(const std::string& name, const void* data, int64_t count);
  // Appends one whole chunk (chunk_rows rows) whose stored bytes the caller has already
  // produced: the zlib stream of the rows for a deflated dataset (filter_mask 0), or the raw
  // rows with filter_mask 1 (deflate skipped for this chunk). The dataset must end on a chunk
  // boundary. This is how compression runs on many threads: HDF5 only stores the bytes.
  void append_chunk(const std::string& name, const void* bytes, size_t size, uint32_t filter_mask);

  // Root attributes (replaced when they exist).
  void set_int_attribute(const std::string& name, int64_t value);
  void set_uint_attribute(const std::string& name, uint64_t value);
  void set_string_attribute(const std::string& name, const std::string& value);
  void set_ints_attribute(const std::string& name, const std::vector<int64_t>& values);
  void set_strings_attribute(const std::string& name, const std::vector<std::string>& values);

  // Marks the file complete, closes it and moves it to its final path.
  void commit();

 private:
  struct Open {
    AppendableDataset spec;
    hid_t id = -1;
  };
  H5AppendWriter(std::filesystem::path path, std::filesystem::path temp, bool replace);
  void close_all() noexcept;
  void mark(int value);

  std::filesystem::path path_, temp_;
  bool replace_ = false;  // append: rename over the original; create: must not exist
  bool committed_ = false;
  hid_t file_ = -1;
  std::map<std::string, Open> datasets_;
};

}  // namespace knotnet
