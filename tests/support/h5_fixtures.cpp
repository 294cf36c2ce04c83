// Test image files (see h5_fixtures.h). Pixels are a pure function of (seed, row, element), so
// files of any size are written slab by slab and checked without keeping a copy.
#include "tests/support/h5_fixtures.h"

#include <hdf5.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "engine/rng.h"
#include "io/h5_handle.h"
#include "tests/support/test_support.h"

namespace knotnet::test {

namespace {

constexpr int64_t kSlabRows = 256;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("h5_fixtures: ") + what + " failed");
}

}  // namespace

uint8_t fixture_pixel(int64_t row, int64_t i, uint64_t seed) {
  if (i < 4) return static_cast<uint8_t>((static_cast<uint64_t>(row) >> (8 * i)) & 0xff);
  uint64_t r = random_bits(seed, static_cast<uint64_t>(row), static_cast<uint64_t>(i));
  if ((r & 15) == 0) return static_cast<uint8_t>(r >> 32);
  return static_cast<uint8_t>(40 + (row * 7 + i / 64) % 180);
}

bool image_is_row(const uint8_t* image, int64_t elements, int64_t row, uint64_t seed) {
  for (int64_t i = 0; i < elements; ++i)
    if (image[i] != fixture_pixel(row, i, seed)) return false;
  return true;
}

int32_t fixture_label(int64_t row, int64_t n, int classes, bool sorted, uint64_t seed) {
  if (sorted) return static_cast<int32_t>(row * classes / n);
  return static_cast<int32_t>(random_bits(seed, 0xABE1, static_cast<uint64_t>(row)) % static_cast<uint64_t>(classes));
}

std::vector<int32_t> write_image_file(const std::filesystem::path& path, const ImageFileSpec& s) {
  const int64_t elems = s.height * s.width * s.channels;
  std::vector<hsize_t> dims = {static_cast<hsize_t>(s.n)};
  if (s.flat) {
    dims.push_back(static_cast<hsize_t>(elems));
  } else {
    dims.push_back(static_cast<hsize_t>(s.height));
    dims.push_back(static_cast<hsize_t>(s.width));
    dims.push_back(static_cast<hsize_t>(s.channels));
  }
  const int rank = static_cast<int>(dims.size());
  H5Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  check(file.valid(), "H5Fcreate");
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (!s.chunk.empty()) {
    check(static_cast<int>(s.chunk.size()) == rank, "chunk rank");
    std::vector<hsize_t> c(s.chunk.begin(), s.chunk.end());
    check(H5Pset_chunk(dcpl, rank, c.data()) >= 0, "H5Pset_chunk");
    if (s.shuffle) check(H5Pset_shuffle(dcpl) >= 0, "H5Pset_shuffle");
    if (s.deflate >= 0) check(H5Pset_deflate(dcpl, static_cast<unsigned>(s.deflate)) >= 0, "H5Pset_deflate");
  }
  H5Handle space(H5Screate_simple(rank, dims.data(), nullptr), H5Sclose);
  hid_t file_type = s.float_pixels ? H5T_IEEE_F32LE : H5T_STD_U8LE;
  hid_t mem_type = s.float_pixels ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT8;
  H5Handle data(H5Dcreate2(file, s.data_name.c_str(), file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
  check(data.valid(), "H5Dcreate2 (data)");

  std::vector<uint8_t> bytes;
  std::vector<float> floats;
  for (int64_t first = 0; first < s.n; first += kSlabRows) {
    const int64_t rows = std::min(kSlabRows, s.n - first);
    bytes.resize(static_cast<size_t>(rows * elems));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < elems; ++i) bytes[static_cast<size_t>(r * elems + i)] = fixture_pixel(first + r, i, s.seed);
    std::vector<hsize_t> start(static_cast<size_t>(rank), 0), count(dims);
    start[0] = static_cast<hsize_t>(first);
    count[0] = static_cast<hsize_t>(rows);
    H5Handle fspace(H5Dget_space(data), H5Sclose);
    check(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) >= 0, "select");
    H5Handle mspace(H5Screate_simple(rank, count.data(), nullptr), H5Sclose);
    const void* buf = bytes.data();
    if (s.float_pixels) {
      floats.resize(bytes.size());
      for (size_t i = 0; i < bytes.size(); ++i) floats[i] = s.unit_range ? bytes[i] / 255.0f : bytes[i];
      buf = floats.data();
    }
    check(H5Dwrite(data, mem_type, mspace, fspace, H5P_DEFAULT, buf) >= 0, "H5Dwrite (data)");
  }

  std::vector<int32_t> labels(static_cast<size_t>(s.n));
  for (int64_t r = 0; r < s.n; ++r) labels[static_cast<size_t>(r)] = fixture_label(r, s.n, s.classes, s.sorted, s.seed);
  const bool one_hot = s.labels == LabelKind::onehot_f32 || s.labels == LabelKind::onehot_i32;
  hsize_t ldims[2] = {static_cast<hsize_t>(s.n), static_cast<hsize_t>(s.classes)};
  H5Handle lspace(H5Screate_simple(one_hot ? 2 : 1, ldims, nullptr), H5Sclose);
  hid_t ltype = s.labels == LabelKind::indices_u8   ? H5T_STD_U8LE
                : s.labels == LabelKind::indices_i64 ? H5T_STD_I64LE
                : s.labels == LabelKind::onehot_f32  ? H5T_IEEE_F32LE
                                                     : H5T_STD_I32LE;
  H5Handle label(H5Dcreate2(file, s.label_name.c_str(), ltype, lspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  check(label.valid(), "H5Dcreate2 (labels)");
  if (one_hot) {
    std::vector<double> rows(static_cast<size_t>(s.n * s.classes), 0.0);
    for (int64_t r = 0; r < s.n; ++r) rows[static_cast<size_t>(r * s.classes + labels[static_cast<size_t>(r)])] = 1.0;
    check(H5Dwrite(label, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()) >= 0, "H5Dwrite (labels)");
  } else {
    check(H5Dwrite(label, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data()) >= 0, "H5Dwrite (labels)");
  }
  if (!s.class_names.empty()) {
    H5Handle st(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(st, H5T_VARIABLE);
    hsize_t n = s.class_names.size();
    H5Handle aspace(H5Screate_simple(1, &n, nullptr), H5Sclose);
    H5Handle attr(H5Acreate2(label, "class_names", st, aspace, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    std::vector<const char*> ptrs;
    for (const auto& name : s.class_names) ptrs.push_back(name.c_str());
    check(H5Awrite(attr, st, ptrs.data()) >= 0, "H5Awrite (class_names)");
  }
  if (s.complete >= 0) {
    H5Handle aspace(H5Screate(H5S_SCALAR), H5Sclose);
    H5Handle attr(H5Acreate2(file, "knotnet_complete", H5T_STD_U8LE, aspace, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    uint8_t v = static_cast<uint8_t>(s.complete);
    check(H5Awrite(attr, H5T_NATIVE_UINT8, &v) >= 0, "H5Awrite (complete)");
  }
  return labels;
}

bool python_has(const std::string& module) {
  return run_command("/usr/bin/python3 -c 'import " + module + "'") == 0;
}

int run_python(const std::string& script, std::string* output) {
  TempDir dir;
  auto path = dir / "script.py";
  {
    std::ofstream f(path);
    f << script;
  }
  return run_command("/usr/bin/python3 " + path.string(), output);
}

}  // namespace knotnet::test
