// Appendable HDF5 writing through the C API. The one non-obvious choice: a new file is moved to
// its final name with link() + unlink() rather than rename(), because link() fails when the
// name already exists, so a file that appeared at the final path while we wrote is never
// replaced.
#include "io/h5_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "engine/error.h"
#include "io/h5_check.h"

namespace knotnet {

namespace fs = std::filesystem;

namespace {

// Closes an HDF5 identifier on scope exit.
class H5Id {
 public:
  H5Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~H5Id() {
    if (id_ >= 0) close_(id_);
  }
  H5Id(H5Id&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  hid_t get() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

hid_t memory_type(H5Element e) { return e == H5Element::u8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT; }
hid_t file_type(H5Element e) { return e == H5Element::u8 ? H5T_STD_U8LE : H5T_IEEE_F32LE; }

std::vector<hsize_t> dims_of(const AppendableDataset& d, int64_t rows) {
  std::vector<hsize_t> dims{static_cast<hsize_t>(rows)};
  for (int64_t v : d.row_shape) dims.push_back(static_cast<hsize_t>(v));
  return dims;
}

AppendableDataset describe_dataset(hid_t file, const std::string& name, const fs::path& path) {
  KN_CHECK(H5Lexists(file, name.c_str(), H5P_DEFAULT) > 0, path.string(), " has no dataset ", name);
  H5Id ds(KN_H5_CHECK(H5Dopen2(file, name.c_str(), H5P_DEFAULT)), H5Dclose);
  AppendableDataset d;
  d.name = name;
  H5Id type(KN_H5_CHECK(H5Dget_type(ds.get())), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.get());
  size_t bytes = H5Tget_size(type.get());
  if (cls == H5T_INTEGER && bytes == 1 && H5Tget_sign(type.get()) == H5T_SGN_NONE) d.element = H5Element::u8;
  else if (cls == H5T_FLOAT && bytes == 4) d.element = H5Element::f32;
  else KN_THROW("dataset ", name, " of ", path.string(), " holds elements of ", bytes, "-byte class ", static_cast<int>(cls),
                ", expected uint8 or float32");
  H5Id space(KN_H5_CHECK(H5Dget_space(ds.get())), H5Sclose);
  int rank = KN_H5_CHECK(H5Sget_simple_extent_ndims(space.get()));
  KN_CHECK(rank >= 1, "dataset ", name, " of ", path.string(), " is a scalar, expected rows");
  std::vector<hsize_t> dims(static_cast<size_t>(rank)), maxdims(static_cast<size_t>(rank));
  KN_H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), maxdims.data()));
  KN_CHECK(maxdims[0] == H5S_UNLIMITED, "dataset ", name, " of ", path.string(),
           " cannot grow (its first axis is not unlimited), so it cannot be appended to");
  d.rows = static_cast<int64_t>(dims[0]);
  for (int i = 1; i < rank; ++i) d.row_shape.push_back(static_cast<int64_t>(dims[static_cast<size_t>(i)]));
  H5Id dcpl(KN_H5_CHECK(H5Dget_create_plist(ds.get())), H5Pclose);
  KN_CHECK(H5Pget_layout(dcpl.get()) == H5D_CHUNKED, "dataset ", name, " of ", path.string(), " is not chunked");
  std::vector<hsize_t> chunk(static_cast<size_t>(rank));
  KN_H5_CHECK(H5Pget_chunk(dcpl.get(), rank, chunk.data()));
  d.chunk_rows = static_cast<int64_t>(chunk[0]);
  int filters = KN_H5_CHECK(H5Pget_nfilters(dcpl.get()));
  for (int f = 0; f < filters; ++f) {
    unsigned flags = 0, values[8] = {};
    size_t nvalues = 8;
    char fname[64];
    unsigned config = 0;
    H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(f), &flags, &nvalues, values, sizeof fname, fname, &config);
    if (id == H5Z_FILTER_DEFLATE) d.deflate = nvalues > 0 ? static_cast<int>(values[0]) : 6;
  }
  return d;
}

void delete_attribute_if_present(hid_t obj, const std::string& name) {
  if (KN_H5_CHECK(H5Aexists(obj, name.c_str())) > 0) KN_H5_CHECK(H5Adelete(obj, name.c_str()));
}

void write_attribute(hid_t obj, const std::string& name, hid_t type, const std::vector<hsize_t>& dims, const void* data) {
  delete_attribute_if_present(obj, name);
  H5Id space(dims.empty() ? KN_H5_CHECK(H5Screate(H5S_SCALAR))
                          : KN_H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr)),
             H5Sclose);
  H5Id attr(KN_H5_CHECK(H5Acreate2(obj, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT)), H5Aclose);
  KN_H5_CHECK(H5Awrite(attr.get(), type, data));
}

H5Id utf8_string_type() {
  H5Id t(KN_H5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
  KN_H5_CHECK(H5Tset_size(t.get(), H5T_VARIABLE));
  KN_H5_CHECK(H5Tset_cset(t.get(), H5T_CSET_UTF8));
  return t;
}

void write_strings(hid_t obj, const std::string& name, const std::vector<std::string>& values, bool scalar) {
  H5Id type = utf8_string_type();
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  write_attribute(obj, name, type.get(), scalar ? std::vector<hsize_t>{} : std::vector<hsize_t>{values.size()}, ptrs.data());
}

H5Id open_attribute(hid_t obj, const std::string& name, const fs::path& path) {
  KN_CHECK(KN_H5_CHECK(H5Aexists(obj, name.c_str())) > 0, path.string(), " has no root attribute ", name);
  return H5Id(KN_H5_CHECK(H5Aopen(obj, name.c_str(), H5P_DEFAULT)), H5Aclose);
}

int64_t attribute_elements(hid_t attr) {
  H5Id space(KN_H5_CHECK(H5Aget_space(attr)), H5Sclose);
  return KN_H5_CHECK(H5Sget_simple_extent_npoints(space.get()));
}

std::vector<std::string> read_strings(hid_t obj, const std::string& name, const fs::path& path) {
  H5Id attr = open_attribute(obj, name, path);
  H5Id ftype(KN_H5_CHECK(H5Aget_type(attr.get())), H5Tclose);
  KN_CHECK(H5Tget_class(ftype.get()) == H5T_STRING, "root attribute ", name, " of ", path.string(), " is not a string");
  size_t n = static_cast<size_t>(attribute_elements(attr.get()));
  std::vector<std::string> out;
  if (H5Tis_variable_str(ftype.get()) > 0) {
    H5Id mtype = utf8_string_type();
    std::vector<char*> ptrs(n, nullptr);
    KN_H5_CHECK(H5Aread(attr.get(), mtype.get(), ptrs.data()));
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Id space(KN_H5_CHECK(H5Aget_space(attr.get())), H5Sclose);
    H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, ptrs.data());
  } else {
    size_t len = H5Tget_size(ftype.get());
    std::vector<char> buf(n * len);
    KN_H5_CHECK(H5Aread(attr.get(), ftype.get(), buf.data()));
    for (size_t i = 0; i < n; ++i) {
      std::string s(buf.data() + i * len, len);
      s.erase(std::find(s.begin(), s.end(), '\0'), s.end());
      out.push_back(s);
    }
  }
  return out;
}

template <typename T>
std::vector<T> read_numbers(hid_t obj, const std::string& name, hid_t mtype, const fs::path& path) {
  H5Id attr = open_attribute(obj, name, path);
  H5Id ftype(KN_H5_CHECK(H5Aget_type(attr.get())), H5Tclose);
  KN_CHECK(H5Tget_class(ftype.get()) == H5T_INTEGER, "root attribute ", name, " of ", path.string(), " is not an integer");
  std::vector<T> out(static_cast<size_t>(attribute_elements(attr.get())));
  KN_H5_CHECK(H5Aread(attr.get(), mtype, out.data()));
  return out;
}

template <typename T>
T read_scalar(hid_t obj, const std::string& name, hid_t mtype, const fs::path& path) {
  auto v = read_numbers<T>(obj, name, mtype, path);
  KN_CHECK(v.size() == 1, "root attribute ", name, " of ", path.string(), " holds ", v.size(), " values, expected one");
  return v[0];
}

hid_t open_file(const fs::path& path, unsigned flags) {
  KN_CHECK(fs::exists(path), path.string(), " does not exist");
  quiet_hdf5_errors();
  htri_t is = H5Fis_hdf5(path.c_str());
  KN_CHECK(is > 0, path.string(), " is not an HDF5 file");
  hid_t f = H5Fopen(path.c_str(), flags, H5P_DEFAULT);
  if (f < 0) {
    std::string why = hdf5_error_message();
    KN_THROW("cannot open ", path.string(), " as an HDF5 file", why.empty() ? "" : ": ", why);
  }
  return f;
}

std::string errno_text() { return std::strerror(errno); }

fs::path temporary_sibling(const fs::path& path) {
  return fs::path(path.string() + ".partial-" + std::to_string(::getpid()));
}

// Creates `path` exclusively (so the name is ours), reporting errno against the user's name.
void create_exclusive(const fs::path& path, const fs::path& for_user) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  KN_CHECK(fd >= 0, "cannot write ", for_user.string(), ": cannot create ", path.string(), ": ", errno_text());
  ::close(fd);
}

// Copies `from` into the new file `to` (created exclusively), in the kernel where it can.
void copy_file_contents(const fs::path& from, const fs::path& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  KN_CHECK(in >= 0, "cannot read ", from.string(), ": ", errno_text());
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    std::string why = errno_text();
    ::close(in);
    KN_THROW("cannot append to ", from.string(), ": cannot create the working copy ", to.string(), ": ", why);
  }
  std::string failure;
  bool kernel_copy = true;
  std::vector<char> buffer;
  for (;;) {
    ssize_t n;
    if (kernel_copy) {
      n = ::copy_file_range(in, nullptr, out, nullptr, size_t{1} << 30, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
        kernel_copy = false;
        buffer.resize(size_t{1} << 20);
        continue;
      }
    } else {
      n = ::read(in, buffer.data(), buffer.size());
      for (ssize_t done = 0; n > 0 && done < n;) {
        ssize_t w = ::write(out, buffer.data() + done, static_cast<size_t>(n - done));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
          n = -1;
          break;
        }
        done += w;
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) failure = errno_text();
    if (n <= 0) break;
  }
  ::close(in);
  if (::close(out) != 0 && failure.empty()) failure = errno_text();
  if (!failure.empty()) {
    ::unlink(to.c_str());
    KN_THROW("cannot append to ", from.string(), ": copying it to ", to.string(), " failed: ", failure);
  }
}

}  // namespace

const char* h5_element_name(H5Element e) { return e == H5Element::u8 ? "uint8" : "float32"; }
size_t h5_element_size(H5Element e) { return e == H5Element::u8 ? 1 : 4; }

int64_t AppendableDataset::row_elements() const {
  int64_t n = 1;
  for (int64_t v : row_shape) n *= v;
  return n;
}

std::string AppendableDataset::describe() const {
  std::ostringstream os;
  os << name << " (" << rows;
  for (int64_t v : row_shape) os << ", " << v;
  os << ") " << h5_element_name(element);
  return os.str();
}

Completeness read_completeness(const fs::path& path) {
  H5Id file(open_file(path, H5F_ACC_RDONLY), H5Fclose);
  if (KN_H5_CHECK(H5Aexists(file.get(), kCompleteAttribute)) <= 0) return Completeness::Unmarked;
  return read_scalar<int64_t>(file.get(), kCompleteAttribute, H5T_NATIVE_INT64, path) == 1 ? Completeness::Complete
                                                                                           : Completeness::Incomplete;
}

// ---- H5FileView -------------------------------------------------------------------------

H5FileView::H5FileView(const fs::path& path) : path_(path), file_(open_file(path, H5F_ACC_RDONLY)) {}

H5FileView::~H5FileView() {
  if (file_ >= 0) H5Fclose(file_);
}

bool H5FileView::has_dataset(const std::string& name) const { return H5Lexists(file_, name.c_str(), H5P_DEFAULT) > 0; }

AppendableDataset H5FileView::dataset(const std::string& name) const { return describe_dataset(file_, name, path_); }

void H5FileView::read_rows(const std::string& name, int64_t first, int64_t count, void* out) const {
  AppendableDataset d = dataset(name);
  KN_CHECK(first >= 0 && count >= 0 && first + count <= d.rows, "rows ", first, "..", first + count, " of ", d.describe(),
           " in ", path_.string(), " do not exist");
  if (count == 0) return;
  H5Id ds(KN_H5_CHECK(H5Dopen2(file_, name.c_str(), H5P_DEFAULT)), H5Dclose);
  H5Id fspace(KN_H5_CHECK(H5Dget_space(ds.get())), H5Sclose);
  std::vector<hsize_t> start(d.row_shape.size() + 1, 0), counts = dims_of(d, count);
  start[0] = static_cast<hsize_t>(first);
  KN_H5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, counts.data(), nullptr));
  H5Id mspace(KN_H5_CHECK(H5Screate_simple(static_cast<int>(counts.size()), counts.data(), nullptr)), H5Sclose);
  KN_H5_CHECK(H5Dread(ds.get(), memory_type(d.element), mspace.get(), fspace.get(), H5P_DEFAULT, out));
}

bool H5FileView::has_attribute(const std::string& name) const { return H5Aexists(file_, name.c_str()) > 0; }
int64_t H5FileView::int_attribute(const std::string& name) const {
  return read_scalar<int64_t>(file_, name, H5T_NATIVE_INT64, path_);
}
uint64_t H5FileView::uint_attribute(const std::string& name) const {
  return read_scalar<uint64_t>(file_, name, H5T_NATIVE_UINT64, path_);
}
std::string H5FileView::string_attribute(const std::string& name) const {
  auto v = read_strings(file_, name, path_);
  KN_CHECK(v.size() == 1, "root attribute ", name, " of ", path_.string(), " holds ", v.size(), " strings, expected one");
  return v[0];
}
std::vector<int64_t> H5FileView::ints_attribute(const std::string& name) const {
  return read_numbers<int64_t>(file_, name, H5T_NATIVE_INT64, path_);
}
std::vector<std::string> H5FileView::strings_attribute(const std::string& name) const {
  return read_strings(file_, name, path_);
}

// ---- H5AppendWriter ---------------------------------------------------------------------

H5AppendWriter::H5AppendWriter(fs::path path, fs::path temp, bool replace)
    : path_(std::move(path)), temp_(std::move(temp)), replace_(replace) {}

H5AppendWriter::H5AppendWriter(H5AppendWriter&& o) noexcept
    : path_(std::move(o.path_)),
      temp_(std::move(o.temp_)),
      replace_(o.replace_),
      committed_(o.committed_),
      file_(o.file_),
      datasets_(std::move(o.datasets_)) {
  o.file_ = -1;
  o.datasets_.clear();
  o.temp_.clear();
  o.committed_ = true;
}

H5AppendWriter::~H5AppendWriter() {
  if (committed_) return;
  close_all();
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

void H5AppendWriter::close_all() noexcept {
  for (auto& [name, d] : datasets_)
    if (d.id >= 0) {
      H5Dclose(d.id);
      d.id = -1;
    }
  if (file_ >= 0) {
    H5Fclose(file_);
    file_ = -1;
  }
}

void H5AppendWriter::mark(int value) {
  int64_t v = value;
  write_attribute(file_, kCompleteAttribute, H5T_STD_I64LE, {}, &v);
  KN_H5_CHECK(H5Fflush(file_, H5F_SCOPE_GLOBAL));
}

H5AppendWriter H5AppendWriter::create(const fs::path& path, const std::vector<AppendableDataset>& datasets) {
  quiet_hdf5_errors();
  KN_CHECK(!fs::exists(path), path.string(), " already exists (pass --append to add to it, or choose another name)");
  fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  KN_CHECK(fs::is_directory(dir), "cannot write ", path.string(), ": ", dir.string(),
           fs::exists(dir) ? " is not a directory" : " does not exist");
  H5AppendWriter w(path, temporary_sibling(path), false);
  create_exclusive(w.temp_, path);
  w.file_ = H5Fcreate(w.temp_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (w.file_ < 0) {
    std::string why = hdf5_error_message();
    KN_THROW("cannot create HDF5 file ", w.temp_.string(), why.empty() ? "" : ": ", why);
  }
  w.mark(0);
  for (const AppendableDataset& spec : datasets) {
    KN_CHECK(spec.chunk_rows >= 1, "dataset ", spec.name, " needs at least one row per chunk, got ", spec.chunk_rows);
    KN_CHECK(spec.deflate >= 0 && spec.deflate <= 9, "deflate level must be 0..9, got ", spec.deflate);
    std::vector<hsize_t> dims = dims_of(spec, 0), maxdims = dims, chunk = dims_of(spec, spec.chunk_rows);
    maxdims[0] = H5S_UNLIMITED;
    H5Id space(KN_H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), maxdims.data())), H5Sclose);
    H5Id dcpl(KN_H5_CHECK(H5Pcreate(H5P_DATASET_CREATE)), H5Pclose);
    KN_H5_CHECK(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()));
    if (spec.deflate > 0) KN_H5_CHECK(H5Pset_deflate(dcpl.get(), static_cast<unsigned>(spec.deflate)));
    hid_t id = KN_H5_CHECK(H5Dcreate2(w.file_, spec.name.c_str(), file_type(spec.element), space.get(), H5P_DEFAULT,
                                      dcpl.get(), H5P_DEFAULT));
    Open o{spec, id};
    o.spec.rows = 0;
    w.datasets_[spec.name] = o;
  }
  return w;
}

H5AppendWriter H5AppendWriter::append(const fs::path& path, const std::vector<std::string>& names) {
  Completeness c = read_completeness(path);
  KN_CHECK(c != Completeness::Incomplete, path.string(), " is marked incomplete (", kCompleteAttribute,
           " = 0): a write to it was interrupted, so it cannot be appended to");
  H5AppendWriter w(path, temporary_sibling(path), true);
  copy_file_contents(path, w.temp_);
  w.file_ = H5Fopen(w.temp_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (w.file_ < 0) {
    std::string why = hdf5_error_message();
    KN_THROW("cannot open the working copy ", w.temp_.string(), " for writing", why.empty() ? "" : ": ", why);
  }
  w.mark(0);
  for (const std::string& name : names) {
    Open o{describe_dataset(w.file_, name, path), -1};
    o.id = KN_H5_CHECK(H5Dopen2(w.file_, name.c_str(), H5P_DEFAULT));
    w.datasets_[name] = o;
  }
  return w;
}

const AppendableDataset& H5AppendWriter::dataset(const std::string& name) const {
  auto it = datasets_.find(name);
  KN_CHECK(it != datasets_.end(), "the writer of ", path_.string(), " has no dataset ", name);
  return it->second.spec;
}

void H5AppendWriter::append_rows(const std::string& name, const void* data, int64_t count) {
  KN_CHECK(!committed_, "cannot append to ", path_.string(), " after commit");
  auto it = datasets_.find(name);
  KN_CHECK(it != datasets_.end(), "the writer of ", path_.string(), " has no dataset ", name);
  KN_CHECK(count >= 0, "cannot append ", count, " rows");
  if (count == 0) return;
  Open& d = it->second;
  std::vector<hsize_t> total = dims_of(d.spec, d.spec.rows + count);
  KN_H5_CHECK(H5Dset_extent(d.id, total.data()));
  H5Id fspace(KN_H5_CHECK(H5Dget_space(d.id)), H5Sclose);
  std::vector<hsize_t> start(total.size(), 0), counts = dims_of(d.spec, count);
  start[0] = static_cast<hsize_t>(d.spec.rows);
  KN_H5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, counts.data(), nullptr));
  H5Id mspace(KN_H5_CHECK(H5Screate_simple(static_cast<int>(counts.size()), counts.data(), nullptr)), H5Sclose);
  KN_H5_CHECK(H5Dwrite(d.id, memory_type(d.spec.element), mspace.get(), fspace.get(), H5P_DEFAULT, data));
  d.spec.rows += count;
}

void H5AppendWriter::append_chunk(const std::string& name, const void* bytes, size_t size, uint32_t filter_mask) {
  KN_CHECK(!committed_, "cannot append to ", path_.string(), " after commit");
  auto it = datasets_.find(name);
  KN_CHECK(it != datasets_.end(), "the writer of ", path_.string(), " has no dataset ", name);
  Open& d = it->second;
  KN_CHECK(d.spec.rows % d.spec.chunk_rows == 0, "a whole chunk can only be appended at a chunk boundary; ", d.spec.name,
           " has ", d.spec.rows, " rows in chunks of ", d.spec.chunk_rows);
  std::vector<hsize_t> total = dims_of(d.spec, d.spec.rows + d.spec.chunk_rows);
  KN_H5_CHECK(H5Dset_extent(d.id, total.data()));
  std::vector<hsize_t> offset(total.size(), 0);
  offset[0] = static_cast<hsize_t>(d.spec.rows);
  KN_H5_CHECK(H5Dwrite_chunk(d.id, H5P_DEFAULT, filter_mask, offset.data(), size, bytes));
  d.spec.rows += d.spec.chunk_rows;
}

void H5AppendWriter::set_int_attribute(const std::string& name, int64_t value) {
  write_attribute(file_, name, H5T_STD_I64LE, {}, &value);
}
void H5AppendWriter::set_uint_attribute(const std::string& name, uint64_t value) {
  write_attribute(file_, name, H5T_STD_U64LE, {}, &value);
}
void H5AppendWriter::set_string_attribute(const std::string& name, const std::string& value) {
  write_strings(file_, name, {value}, true);
}
void H5AppendWriter::set_ints_attribute(const std::string& name, const std::vector<int64_t>& values) {
  write_attribute(file_, name, H5T_STD_I64LE, {values.size()}, values.data());
}
void H5AppendWriter::set_strings_attribute(const std::string& name, const std::vector<std::string>& values) {
  write_strings(file_, name, values, false);
}

void H5AppendWriter::commit() {
  KN_CHECK(!committed_ && file_ >= 0, "the writer of ", path_.string(), " was already committed");
  mark(1);
  for (auto& [name, d] : datasets_) {
    herr_t r = H5Dclose(d.id);
    d.id = -1;
    KN_CHECK(r >= 0, "cannot finish dataset ", name, " of ", temp_.string(), ": ", hdf5_error_message());
  }
  herr_t r = H5Fclose(file_);
  file_ = -1;
  KN_CHECK(r >= 0, "cannot close ", temp_.string(), ": ", hdf5_error_message());
  if (replace_) {
    KN_CHECK(::rename(temp_.c_str(), path_.c_str()) == 0, "cannot move ", temp_.string(), " over ", path_.string(), ": ",
             errno_text());
  } else if (::link(temp_.c_str(), path_.c_str()) == 0) {
    ::unlink(temp_.c_str());
  } else {
    KN_CHECK(errno != EEXIST, path_.string(), " appeared while it was being written; not replacing it");
    // Filesystems without hard links: the existence check above is the best we can do.
    KN_CHECK(!fs::exists(path_), path_.string(), " appeared while it was being written");
    KN_CHECK(::rename(temp_.c_str(), path_.c_str()) == 0, "cannot move ", temp_.string(), " to ", path_.string(), ": ",
             errno_text());
  }
  committed_ = true;
}

}  // namespace knotnet
