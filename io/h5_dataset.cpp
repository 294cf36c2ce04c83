// Validated opening of an image file (see h5_dataset.h). The one non-obvious choice: float32
// pixels are classified as 0–1 or 0–255 from a sample of blocks spread over the file (the first,
// the last and six between), because a full scan would read the whole file before training.
#include "io/h5_dataset.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>

#include "engine/error.h"
#include "engine/format.h"
#include "io/h5_check.h"
#include "io/h5_writer.h"

namespace knotnet {

namespace {

constexpr int kMaxClasses = 1 << 16;
constexpr int64_t kLabelSlabRows = 1 << 16;

std::string shape_text(const std::vector<int64_t>& dims) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < dims.size(); ++i) os << (i ? ", " : "") << dims[i];
  os << (dims.size() == 1 ? ",)" : ")");
  return os.str();
}

std::string absolute_name(const std::string& name) { return name.empty() || name[0] != '/' ? "/" + name : name; }

// "uint8", "int64", "float32", ... for an HDF5 type, or a description for other classes.
std::string dtype_text(hid_t type) {
  H5T_class_t cls = H5Tget_class(type);
  size_t size = H5Tget_size(type);
  if (cls == H5T_INTEGER) return std::string(H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(size * 8);
  if (cls == H5T_FLOAT) return "float" + std::to_string(size * 8);
  if (cls == H5T_STRING) return "string";
  if (cls == H5T_ENUM) return "enum";
  if (cls == H5T_COMPOUND) return "compound";
  return "an unsupported type";
}

std::vector<int64_t> dataset_dims(hid_t dset) {
  H5Handle space(KN_H5_CHECK(H5Dget_space(dset)), H5Sclose);
  int rank = KN_H5_CHECK(H5Sget_simple_extent_ndims(space));
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
  if (rank > 0) KN_H5_CHECK(H5Sget_simple_extent_dims(space, dims.data(), nullptr));
  return std::vector<int64_t>(dims.begin(), dims.end());
}

herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(std::string("/") + name);
  return 0;
}

std::string root_members(hid_t file) {
  std::vector<std::string> names;
  H5Literate(file, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &names);
  if (names.empty()) return "it holds nothing at its root";
  std::string out = "it holds ";
  for (size_t i = 0; i < names.size() && i < 12; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 12) out += ", ...";
  return out;
}

// Opens `name` as a dataset, or says what is there instead.
H5Handle open_dataset(hid_t file, const std::string& name, const std::string& path, const char* role) {
  // H5Lexists needs each parent group to exist, so walk the path.
  size_t pos = 0;
  while (true) {
    size_t next = name.find('/', pos + 1);
    std::string prefix = name.substr(0, next);
    if (prefix != "/") {
      htri_t exists = H5Lexists(file, prefix.c_str(), H5P_DEFAULT);
      KN_CHECK(exists > 0, path, " has no ", role, " dataset ", name, " (", root_members(file),
               "); pass the dataset's name if it is called something else");
    }
    if (next == std::string::npos) break;
    pos = next;
  }
  H5O_info_t oinfo;
  KN_CHECK(H5Oget_info_by_name(file, name.c_str(), &oinfo, H5P_DEFAULT) >= 0, "cannot read ", name, " in ", path,
           ": ", hdf5_error_message());
  KN_CHECK(oinfo.type == H5O_TYPE_DATASET, name, " in ", path, " is a group or named type, not a dataset of ", role);
  hid_t id = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  KN_CHECK(id >= 0, "cannot open ", name, " in ", path, ": ", hdf5_error_message());
  return H5Handle(id, H5Dclose);
}

// An integer attribute (any integer or enum type) of `obj`, or nullopt-like false when absent.
bool read_int_attribute(hid_t obj, const char* name, std::vector<int64_t>* out) {
  if (H5Aexists(obj, name) <= 0) return false;
  H5Handle attr(KN_H5_CHECK(H5Aopen(obj, name, H5P_DEFAULT)), H5Aclose);
  H5Handle type(KN_H5_CHECK(H5Aget_type(attr)), H5Tclose);
  H5Handle space(KN_H5_CHECK(H5Aget_space(attr)), H5Sclose);
  hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n <= 0 || n > 64) return false;
  out->assign(static_cast<size_t>(n), 0);
  H5T_class_t cls = H5Tget_class(type);
  if (cls == H5T_INTEGER) return H5Aread(attr, H5T_NATIVE_INT64, out->data()) >= 0;
  if (cls == H5T_ENUM || cls == H5T_FLOAT) {
    // h5py writes bools as an enum; read the stored bytes and widen.
    std::vector<double> tmp(static_cast<size_t>(n));
    if (cls == H5T_FLOAT) {
      if (H5Aread(attr, H5T_NATIVE_DOUBLE, tmp.data()) < 0) return false;
      for (size_t i = 0; i < tmp.size(); ++i) (*out)[i] = static_cast<int64_t>(tmp[i]);
      return true;
    }
    size_t size = H5Tget_size(type);
    if (size != 1) return false;
    std::vector<uint8_t> bytes(static_cast<size_t>(n));
    if (H5Aread(attr, type, bytes.data()) < 0) return false;
    for (size_t i = 0; i < bytes.size(); ++i) (*out)[i] = bytes[i];
    return true;
  }
  return false;
}

// A string-array attribute (variable or fixed length); empty when absent or not strings.
std::vector<std::string> read_string_attribute(hid_t obj, const char* name) {
  std::vector<std::string> out;
  if (H5Aexists(obj, name) <= 0) return out;
  H5Handle attr(KN_H5_CHECK(H5Aopen(obj, name, H5P_DEFAULT)), H5Aclose);
  H5Handle type(KN_H5_CHECK(H5Aget_type(attr)), H5Tclose);
  if (H5Tget_class(type) != H5T_STRING) return out;
  H5Handle space(KN_H5_CHECK(H5Aget_space(attr)), H5Sclose);
  hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n <= 0 || n > kMaxClasses) return out;
  if (H5Tis_variable_str(type) > 0) {
    H5Handle mem(KN_H5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
    KN_H5_CHECK(H5Tset_size(mem, H5T_VARIABLE));
    KN_H5_CHECK(H5Tset_cset(mem, H5Tget_cset(type)));
    std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
    if (H5Aread(attr, mem, ptrs.data()) < 0) return {};
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem, space, H5P_DEFAULT, ptrs.data());
  } else {
    size_t size = H5Tget_size(type);
    std::vector<char> buf(size * static_cast<size_t>(n));
    if (H5Aread(attr, type, buf.data()) < 0) return {};
    for (hssize_t i = 0; i < n; ++i) {
      const char* s = buf.data() + static_cast<size_t>(i) * size;
      out.emplace_back(s, strnlen(s, size));
    }
  }
  return out;
}

// Reads rows [first, first + rows) of a rank-1 or rank-2 dataset as `T` (HDF5 converts).
template <typename T>
void read_label_rows(hid_t dset, hid_t mem_type, const std::vector<int64_t>& dims, int64_t first, int64_t rows, T* out) {
  const int rank = static_cast<int>(dims.size());
  hsize_t start[2] = {static_cast<hsize_t>(first), 0};
  hsize_t count[2] = {static_cast<hsize_t>(rows), rank > 1 ? static_cast<hsize_t>(dims[1]) : 1};
  H5Handle file_space(KN_H5_CHECK(H5Dget_space(dset)), H5Sclose);
  KN_H5_CHECK(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr));
  H5Handle mem_space(KN_H5_CHECK(H5Screate_simple(rank, count, nullptr)), H5Sclose);
  KN_H5_CHECK(H5Dread(dset, mem_type, mem_space, file_space, H5P_DEFAULT, out));
}

}  // namespace

const char* label_format_name(LabelFormat f) { return f == LabelFormat::indices ? "class indices" : "one-hot"; }

Shape parse_image_shape(const std::string& text) {
  std::vector<int64_t> v;
  std::string cur;
  auto flush = [&] {
    KN_CHECK(!cur.empty(), "image shape '", text, "': expected H,W,C, e.g. 128,128,3");
    size_t used = 0;
    long long x = 0;
    try {
      x = std::stoll(cur, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    KN_CHECK(used == cur.size() && x > 0 && x <= (1 << 20), "image shape '", text,
             "': expected three positive integers H,W,C, e.g. 128,128,3");
    v.push_back(x);
    cur.clear();
  };
  for (char c : text) {
    if (c == ',' || c == 'x' || c == 'X') flush();
    else if (c != ' ') cur += c;
  }
  flush();
  KN_CHECK(v.size() == 3, "image shape '", text, "': expected three numbers H,W,C, e.g. 128,128,3");
  return Shape{v[0], v[1], v[2]};
}

ImageDataset::LockedIds::~LockedIds() {
  std::lock_guard<std::mutex> lock(hdf5_library_mutex());
  data.reset();
  file.reset();
}

ImageDataset::OwnedFd::~OwnedFd() {
  if (fd >= 0) ::close(fd);
}

ImageDataset::~ImageDataset() = default;

ImageDataset::ImageDataset(const std::string& path, const DatasetOptions& options) {
  namespace fs = std::filesystem;
  quiet_hdf5_errors();
  info_.path = path;
  std::error_code ec;
  KN_CHECK(fs::exists(path, ec), path, ": no such file");
  KN_CHECK(fs::is_regular_file(path, ec), path, ": not a regular file");
  open_metadata(options);
  fd_.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  KN_CHECK(fd_.fd >= 0, path, ": cannot open for reading: ", std::strerror(errno));
  const std::string data_where = info_.data_name + " in " + path;
  if (!index_.direct)
    info_.warnings.push_back(data_where + " is read through HDF5, one thread at a time, because " +
                             index_.why_not_direct + "; expect slower reading");
  PixelFormat format{info_.pixel_type, 1.0f};
  info_.pixel_range = "0-255";
  if (info_.pixel_type == PixelType::f32) {
    // Sample up to eight blocks spread over the file for the value range.
    ChunkReader raw_reader(index_, fd_.fd, ids_.data.get(), format, data_where);
    BlockScratch scratch;
    std::vector<uint8_t> block(static_cast<size_t>(index_.block_rows) * index_.row_bytes());
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    const int64_t samples = std::min<int64_t>(8, index_.blocks);
    for (int64_t s = 0; s < samples; ++s) {
      int64_t b = samples == 1 ? 0 : s * (index_.blocks - 1) / (samples - 1);
      raw_reader.read_block_raw(b, block.data(), scratch);
      const float* v = reinterpret_cast<const float*>(block.data());
      int64_t count = index_.rows_in_block(b) * index_.row_elements();
      for (int64_t i = 0; i < count; ++i) {
        KN_CHECK(std::isfinite(v[i]), data_where, ": pixel ", i, " of rows ", b * index_.block_rows, "..",
                 b * index_.block_rows + index_.rows_in_block(b) - 1, " is ", v[i],
                 "; expected finite values in 0-1 or 0-255");
        lo = std::min(lo, v[i]);
        hi = std::max(hi, v[i]);
      }
    }
    info_.pixel_min = lo;
    info_.pixel_max = hi;
    KN_CHECK(lo >= -1e-6f && hi <= 255.0f + 1e-3f, data_where, " holds float pixels from ", lo, " to ", hi,
             " (in the rows sampled); expected 0-1 or 0-255");
    const bool unit = hi <= 1.0f + 1e-6f;
    info_.pixel_scale = unit ? 255.0f : 1.0f;
    info_.pixel_range = unit ? "0-1" : "0-255";
    format.scale = info_.pixel_scale;
    if (unit && hi <= 1.0f / 255.0f)
      info_.warnings.push_back("the float pixels sampled are all near 0; they were taken as 0-1 values");
  }
  reader_ = std::make_unique<ChunkReader>(index_, fd_.fd, ids_.data.get(), format, data_where);
}

void ImageDataset::open_metadata(const DatasetOptions& options) {
  const std::string& path = info_.path;
  // Declared before every handle, so that handles close under the lock even when a check throws.
  std::lock_guard<std::mutex> lock(hdf5_library_mutex());
  htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  KN_CHECK(is_hdf5 > 0, path, ": not an HDF5 file (no HDF5 signature found; is it empty or truncated?)");
  hid_t fid = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (fid < 0) {
    std::string why = hdf5_error_message();
    KN_THROW(path, ": cannot open as HDF5 (", why.empty() ? "unknown error" : why,
             "); the file may be truncated, damaged or still being written");
  }
  H5Handle file(fid, H5Fclose);

  // Completeness marker.
  std::vector<int64_t> complete;
  if (read_int_attribute(file, kCompleteAttribute, &complete)) {
    KN_CHECK(!complete.empty() && complete[0] != 0, path, " is incomplete: its root attribute ", kCompleteAttribute,
             " is 0, so the program writing it (make_knots) stopped before finishing; write it again");
    info_.completeness = std::string("complete: ") + kCompleteAttribute + " = 1";
  } else {
    info_.completeness = std::string("no ") + kCompleteAttribute + " attribute: not written by make_knots";
  }

  // ---- Images ----
  info_.data_name = absolute_name(options.data_name);
  H5Handle data = open_dataset(file, info_.data_name, path, "image");
  const std::string data_where = info_.data_name + " in " + path;
  info_.data_shape = dataset_dims(data);
  {
    H5Handle type(KN_H5_CHECK(H5Dget_type(data)), H5Tclose);
    info_.data_dtype = dtype_text(type);
    H5T_class_t cls = H5Tget_class(type);
    size_t size = H5Tget_size(type);
    if (cls == H5T_INTEGER && size == 1 && H5Tget_sign(type) == H5T_SGN_NONE) info_.pixel_type = PixelType::u8;
    else if (cls == H5T_FLOAT && size == 4) info_.pixel_type = PixelType::f32;
    else KN_THROW(data_where, " holds ", info_.data_dtype, " pixels; expected uint8 (0-255) or float32 (0-1 or 0-255)");
  }
  const auto& ds = info_.data_shape;
  const int rank = static_cast<int>(ds.size());
  KN_CHECK(rank >= 2 && rank <= 4, data_where, " has shape ", shape_text(ds),
           "; expected images (N, H, W, C), (N, H, W) or flat rows (N, H*W*C)");
  info_.n = ds[0];
  KN_CHECK(info_.n > 0, data_where, " holds no images (shape ", shape_text(ds), ")");
  const bool given = options.image_shape.rank() > 0;
  if (given) KN_CHECK(options.image_shape.rank() == 3, "the image shape must be H,W,C");
  if (rank == 4 || rank == 3) {
    Shape stored = rank == 4 ? Shape{ds[1], ds[2], ds[3]} : Shape{ds[1], ds[2], 1};
    if (given)
      KN_CHECK(options.image_shape == stored, data_where, " holds images of shape ", stored.str(),
               " but the image shape given is ", options.image_shape.str());
    info_.image_shape = stored;
    info_.image_shape_from = rank == 4 ? "the dataset's shape" : "the dataset's shape (one channel)";
  } else {
    info_.flat = true;
    const int64_t f = ds[1];
    std::vector<int64_t> attr;
    if (given) {
      KN_CHECK(options.image_shape.numel() == f, data_where, " holds rows of ", f, " values but the image shape given, ",
               options.image_shape.str(), ", has ", options.image_shape.numel());
      info_.image_shape = options.image_shape;
      info_.image_shape_from = "the image shape given";
    } else if (read_int_attribute(data, "image_shape", &attr) || read_int_attribute(file, "image_shape", &attr)) {
      KN_CHECK(attr.size() == 3 && attr[0] > 0 && attr[1] > 0 && attr[2] > 0 && attr[0] * attr[1] * attr[2] == f,
               data_where, ": its image_shape attribute does not describe rows of ", f, " values; expected H, W, C with H*W*C = ", f);
      info_.image_shape = Shape{attr[0], attr[1], attr[2]};
      info_.image_shape_from = "the image_shape attribute";
    } else {
      auto square = [](int64_t v) {
        int64_t s = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(v))));
        return s > 0 && s * s == v ? s : int64_t{0};
      };
      if (f % 3 == 0 && square(f / 3)) {
        info_.image_shape = Shape{square(f / 3), square(f / 3), 3};
        info_.image_shape_from = "inferred: square images with 3 channels";
      } else if (square(f)) {
        info_.image_shape = Shape{square(f), square(f), 1};
        info_.image_shape_from = "inferred: square images with 1 channel";
      } else {
        KN_THROW(data_where, " holds flat rows of ", f, " values that are not square images with 1 or 3 channels; "
                 "give the image shape (--image-shape H,W,C) or store an image_shape attribute");
      }
    }
  }

  // ---- Storage ----
  struct stat st{};
  KN_CHECK(::stat(path.c_str(), &st) == 0, path, ": ", std::strerror(errno));
  index_ = index_chunks(data, data_where, static_cast<uint64_t>(st.st_size));
  info_.layout = index_.layout;
  info_.chunk_shape = index_.chunk;
  for (const ChunkFilter& f : index_.filters) info_.filters.push_back(f.name);
  info_.deflate_level = index_.deflate_level();
  info_.direct = index_.direct;
  info_.why_not_direct = index_.why_not_direct;
  info_.block_rows = index_.block_rows;
  info_.blocks = index_.blocks;
  info_.chunks = static_cast<int64_t>(index_.chunks.size());
  info_.stored_bytes = index_.stored_bytes;
  info_.raw_bytes = static_cast<uint64_t>(info_.n) * index_.row_bytes();

  // ---- Labels ----
  info_.label_name = absolute_name(options.label_name);
  H5Handle label = open_dataset(file, info_.label_name, path, "label");
  const std::string label_where = info_.label_name + " in " + path;
  info_.label_shape = dataset_dims(label);
  const auto& ls = info_.label_shape;
  H5Handle ltype(KN_H5_CHECK(H5Dget_type(label)), H5Tclose);
  info_.label_dtype = dtype_text(ltype);
  const H5T_class_t lcls = H5Tget_class(ltype);
  KN_CHECK(lcls == H5T_INTEGER || lcls == H5T_FLOAT, label_where, " holds ", info_.label_dtype,
           " values; expected integer class indices (N,) or one-hot rows (N, K) of floats or integers");
  KN_CHECK(!ls.empty() && ls.size() <= 2, label_where, " has shape ", shape_text(ls),
           "; expected class indices (N,) or one-hot rows (N, K)");
  KN_CHECK(ls[0] == info_.n, data_where, " holds ", format_count(info_.n), " images but ", info_.label_name, " holds ",
           format_count(ls[0]), " labels; they must match");
  const bool one_hot = ls.size() == 2 && ls[1] > 1;
  info_.label_format = one_hot ? LabelFormat::one_hot : LabelFormat::indices;
  if (!one_hot)
    KN_CHECK(lcls == H5T_INTEGER, label_where, " holds ", info_.label_dtype, " values of shape ", shape_text(ls),
             "; expected integer class indices (N,) or one-hot rows (N, K)");
  if (one_hot) KN_CHECK(ls[1] <= kMaxClasses, label_where, " has ", ls[1], " columns; too many classes");
  if (one_hot && options.classes > 0)
    KN_CHECK(ls[1] == options.classes, label_where, " holds one-hot rows of ", ls[1], " classes; expected ",
             options.classes);

  info_.class_names = read_string_attribute(label, "class_names");
  if (info_.class_names.empty()) info_.class_names = read_string_attribute(file, "class_names");

  labels_.resize(static_cast<size_t>(info_.n));
  int64_t max_label = -1;
  if (!one_hot) {
    std::vector<int64_t> slab;
    for (int64_t first = 0; first < info_.n; first += kLabelSlabRows) {
      int64_t rows = std::min(kLabelSlabRows, info_.n - first);
      slab.resize(static_cast<size_t>(rows));
      read_label_rows(label, H5T_NATIVE_INT64, ls, first, rows, slab.data());
      for (int64_t i = 0; i < rows; ++i) {
        int64_t v = slab[static_cast<size_t>(i)];
        KN_CHECK(v >= 0, "label ", v, " at row ", first + i, " of ", label_where,
                 " is negative; expected class indices 0..K-1");
        KN_CHECK(v < kMaxClasses, "label ", v, " at row ", first + i, " of ", label_where,
                 " is implausibly large; expected class indices 0..K-1");
        labels_[static_cast<size_t>(first + i)] = static_cast<int32_t>(v);
        max_label = std::max(max_label, v);
      }
    }
    info_.classes = static_cast<int>(max_label + 1);
    if (options.classes > 0) {
      for (size_t r = 0; r < labels_.size(); ++r)
        KN_CHECK(labels_[r] < options.classes, "label ", labels_[r], " at row ", r, " of ", label_where,
                 " is out of range: expected class indices 0..", options.classes - 1);
      info_.classes = options.classes;
    }
    if (!info_.class_names.empty()) {
      KN_CHECK(max_label < static_cast<int64_t>(info_.class_names.size()), "label ", max_label, " in ", label_where,
               " is out of range: the file names ", info_.class_names.size(), " classes (0..",
               info_.class_names.size() - 1, ")");
      KN_CHECK(options.classes <= 0 || options.classes == static_cast<int>(info_.class_names.size()), label_where,
               ": the file names ", info_.class_names.size(), " classes, but ", options.classes, " were expected");
      info_.classes = static_cast<int>(info_.class_names.size());
    }
  } else {
    const int64_t k = ls[1];
    std::vector<double> slab;
    for (int64_t first = 0; first < info_.n; first += kLabelSlabRows) {
      int64_t rows = std::min(kLabelSlabRows, info_.n - first);
      slab.resize(static_cast<size_t>(rows * k));
      read_label_rows(label, H5T_NATIVE_DOUBLE, ls, first, rows, slab.data());
      for (int64_t i = 0; i < rows; ++i) {
        const double* row = &slab[static_cast<size_t>(i * k)];
        int hot = -1, ones = 0;
        bool clean = true;
        for (int64_t j = 0; j < k; ++j) {
          if (std::fabs(row[j] - 1.0) <= 1e-6) {
            ++ones;
            hot = static_cast<int>(j);
          } else if (std::fabs(row[j]) > 1e-6) {
            clean = false;
          }
        }
        if (!clean || ones != 1) {
          std::ostringstream vals;
          for (int64_t j = 0; j < std::min<int64_t>(k, 8); ++j) vals << (j ? ", " : "") << row[j];
          if (k > 8) vals << ", ...";
          KN_THROW("row ", first + i, " of ", label_where, " is not one-hot: [", vals.str(),
                   "]; expected exactly one 1 and zeros elsewhere");
        }
        labels_[static_cast<size_t>(first + i)] = hot;
      }
    }
    info_.classes = static_cast<int>(k);
    if (!info_.class_names.empty())
      KN_CHECK(static_cast<int64_t>(info_.class_names.size()) == k, label_where, " has ", k,
               " one-hot columns but the file names ", info_.class_names.size(), " classes");
  }
  info_.class_counts.assign(static_cast<size_t>(info_.classes), 0);
  for (int32_t l : labels_) ++info_.class_counts[static_cast<size_t>(l)];
  for (int c = 0; c < info_.classes; ++c)
    if (info_.class_counts[static_cast<size_t>(c)] == 0)
      info_.warnings.push_back("class " + std::to_string(c) + " has no images");

  if (!index_.direct) {
    ids_.file = std::move(file);
    ids_.data = std::move(data);
  }
}

}  // namespace knotnet
