// Opening and validating image files: every layout the reader accepts is read back exactly, and
// every bad input gets an error that names the file, the dataset and what was expected.
#include <gtest/gtest.h>

#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "engine/error.h"
#include "io/h5_dataset.h"
#include "io/h5_handle.h"
#include "io/h5_writer.h"
#include "tests/support/h5_fixtures.h"
#include "tests/support/test_support.h"

using namespace knotnet;
using namespace knotnet::test;

namespace {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

#define EXPECT_MENTIONS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg)

// Reads every block and checks every image against its row.
void expect_all_rows(const ImageDataset& ds, uint64_t seed) {
  BlockScratch scratch;
  const int64_t elems = ds.info().image_shape.numel();
  std::vector<uint8_t> block(static_cast<size_t>(ds.block_rows() * elems));
  for (int64_t b = 0; b < ds.blocks(); ++b) {
    ds.read_block(b, block.data(), scratch);
    for (int64_t r = 0; r < ds.index().rows_in_block(b); ++r) {
      int64_t row = b * ds.block_rows() + r;
      ASSERT_TRUE(image_is_row(block.data() + r * elems, elems, row, seed)) << "row " << row;
    }
  }
}

class ReaderOpen : public ::testing::Test {
 protected:
  TempDir dir;
  std::string path(const std::string& name = "data.h5") const { return (dir / name).string(); }
};

TEST_F(ReaderOpen, ChunkedImagesWithIndexLabels) {
  ImageFileSpec spec;
  spec.chunk = {64, 8, 8, 3};
  spec.class_names = {"unknot", "trefoil+", "trefoil-"};
  spec.complete = 1;
  auto labels = write_image_file(path(), spec);
  ImageDataset ds(path());
  const DatasetInfo& info = ds.info();
  EXPECT_EQ(info.n, 600);
  EXPECT_EQ(info.image_shape, (Shape{8, 8, 3}));
  EXPECT_FALSE(info.flat);
  EXPECT_EQ(info.data_dtype, "uint8");
  EXPECT_EQ(info.layout, StorageLayout::chunked);
  EXPECT_EQ(info.block_rows, 64);
  EXPECT_EQ(info.blocks, 10);
  EXPECT_TRUE(info.direct);
  EXPECT_EQ(info.label_format, LabelFormat::indices);
  EXPECT_EQ(info.classes, 3);
  EXPECT_EQ(info.class_names, spec.class_names);
  EXPECT_EQ(info.class_counts, (std::vector<int64_t>{200, 200, 200}));
  EXPECT_NE(info.completeness.find("complete"), std::string::npos);
  EXPECT_EQ(ds.labels(), labels);
  expect_all_rows(ds, spec.seed);
}

TEST_F(ReaderOpen, ContiguousImagesUseVirtualBlocks) {
  ImageFileSpec spec;
  spec.n = 700;
  spec.height = spec.width = 32;  // 3 KiB rows: about 340 rows per 1 MiB block
  spec.labels = LabelKind::indices_i64;
  write_image_file(path(), spec);
  ImageDataset ds(path());
  EXPECT_EQ(ds.info().layout, StorageLayout::contiguous);
  EXPECT_EQ(ds.block_rows(), (1 << 20) / (32 * 32 * 3));
  EXPECT_EQ(ds.blocks(), (700 + ds.block_rows() - 1) / ds.block_rows());
  expect_all_rows(ds, spec.seed);
}

TEST_F(ReaderOpen, DeflateAndShuffleAreDecodedDirectly) {
  ImageFileSpec spec;
  spec.n = 500;  // the last block is partial
  spec.chunk = {48, 8, 8, 3};
  spec.deflate = 4;
  spec.shuffle = true;
  spec.labels = LabelKind::onehot_f32;
  write_image_file(path(), spec);
  ImageDataset ds(path());
  EXPECT_TRUE(ds.info().direct);
  EXPECT_EQ(ds.info().deflate_level, 4);
  EXPECT_EQ(ds.info().filters, (std::vector<std::string>{"shuffle", "deflate"}));
  EXPECT_LT(ds.info().stored_bytes, ds.info().raw_bytes);  // it really is compressed
  EXPECT_EQ(ds.info().label_format, LabelFormat::one_hot);
  expect_all_rows(ds, spec.seed);
}

TEST_F(ReaderOpen, ChunksThatTileRowsAreReassembled) {
  // h5py's automatic chunking cuts images into tiles, e.g. (125, 16, 32, 1) for 128x128x3.
  ImageFileSpec spec;
  spec.n = 130;
  spec.height = 12;
  spec.width = 10;
  spec.chunk = {50, 5, 4, 2};  // edge tiles in every dimension
  spec.deflate = 1;
  write_image_file(path(), spec);
  ImageDataset ds(path());
  EXPECT_EQ(ds.block_rows(), 50);
  EXPECT_EQ(ds.index().chunks_per_block, 3 * 3 * 2);
  expect_all_rows(ds, spec.seed);
}

TEST_F(ReaderOpen, PlainRowsAreReadStraightIntoPlace) {
  for (bool chunked : {true, false}) {
    ImageFileSpec spec;
    spec.n = 100;
    if (chunked) spec.chunk = {40, 8, 8, 3};
    write_image_file(path(), spec);
    ImageDataset ds(path());
    ASSERT_TRUE(ds.rows_are_plain());
    // Runs and gaps, in the last (partial) block.
    const std::vector<int32_t> rows = {0, 1, 2, 5, 9, 10, 19};
    const int64_t b = ds.blocks() - 1, elems = 192;
    std::vector<std::vector<uint8_t>> out(rows.size(), std::vector<uint8_t>(elems));
    std::vector<uint8_t*> dst;
    for (auto& o : out) dst.push_back(o.data());
    ds.read_rows(b, rows.data(), dst.data(), static_cast<int64_t>(rows.size()));
    for (size_t i = 0; i < rows.size(); ++i)
      EXPECT_TRUE(image_is_row(out[i].data(), elems, b * ds.block_rows() + rows[i], spec.seed)) << "row " << rows[i];
  }
  ImageFileSpec packed;
  packed.chunk = {40, 8, 8, 3};
  packed.deflate = 1;
  write_image_file(path(), packed);
  EXPECT_FALSE(ImageDataset(path()).rows_are_plain());
}

TEST_F(ReaderOpen, FlatRowsInferSquareImages) {
  ImageFileSpec spec;
  spec.flat = true;
  spec.chunk = {32, 8 * 8 * 3};
  spec.labels = LabelKind::onehot_f32;
  write_image_file(path(), spec);
  ImageDataset ds(path());
  EXPECT_TRUE(ds.info().flat);
  EXPECT_EQ(ds.info().image_shape, (Shape{8, 8, 3}));
  EXPECT_NE(ds.info().image_shape_from.find("inferred"), std::string::npos);
  expect_all_rows(ds, spec.seed);

  ImageFileSpec gray = spec;
  gray.channels = 1;
  gray.chunk = {32, 64};
  write_image_file(path("gray.h5"), gray);
  EXPECT_EQ(ImageDataset(path("gray.h5")).info().image_shape, (Shape{8, 8, 1}));
}

TEST_F(ReaderOpen, FlatRowsTakeTheGivenShapeOrAttribute) {
  ImageFileSpec spec;
  spec.flat = true;
  spec.height = 6;
  spec.width = 10;  // not square: cannot be inferred
  write_image_file(path(), spec);
  std::string msg = error_of([&] { ImageDataset ds(path()); });
  EXPECT_MENTIONS(msg, "/train_data in " + path());
  EXPECT_MENTIONS(msg, "--image-shape");

  DatasetOptions opt;
  opt.image_shape = parse_image_shape("6,10,3");
  ImageDataset given(path(), opt);
  EXPECT_EQ(given.info().image_shape, (Shape{6, 10, 3}));
  expect_all_rows(given, spec.seed);

  opt.image_shape = Shape{10, 10, 3};
  msg = error_of([&] { ImageDataset ds(path(), opt); });
  EXPECT_MENTIONS(msg, "180 values");

  {
    H5Handle file(H5Fopen(path().c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    H5Handle data(H5Dopen2(file, "train_data", H5P_DEFAULT), H5Dclose);
    hsize_t three = 3;
    H5Handle space(H5Screate_simple(1, &three, nullptr), H5Sclose);
    H5Handle attr(H5Acreate2(data, "image_shape", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    int32_t shape[3] = {10, 6, 3};
    ASSERT_GE(H5Awrite(attr, H5T_NATIVE_INT32, shape), 0);
  }
  ImageDataset attr(path());
  EXPECT_EQ(attr.info().image_shape, (Shape{10, 6, 3}));
  EXPECT_NE(attr.info().image_shape_from.find("attribute"), std::string::npos);
}

TEST_F(ReaderOpen, FloatPixelsOfEitherRangeBecomeTheSameBytes) {
  for (bool unit : {true, false}) {
    ImageFileSpec spec;
    spec.float_pixels = true;
    spec.unit_range = unit;
    spec.chunk = {64, 8, 8, 3};
    spec.deflate = 2;
    spec.shuffle = true;  // shuffle matters for 4-byte elements
    write_image_file(path(), spec);
    ImageDataset ds(path());
    EXPECT_EQ(ds.info().data_dtype, "float32");
    EXPECT_EQ(ds.info().pixel_range, unit ? "0-1" : "0-255");
    EXPECT_FLOAT_EQ(ds.info().pixel_scale, unit ? 255.0f : 1.0f);
    expect_all_rows(ds, spec.seed);  // exact: x/255*255 rounds back to x
  }
}

TEST_F(ReaderOpen, GrayscaleRankThree) {
  std::string p = path();
  {
    H5Handle file(H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    hsize_t dims[3] = {10, 4, 5};
    H5Handle space(H5Screate_simple(3, dims, nullptr), H5Sclose);
    H5Handle data(H5Dcreate2(file, "train_data", H5T_STD_U8LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    std::vector<uint8_t> px(200);
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 7 + 1);
    ASSERT_GE(H5Dwrite(data, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, px.data()), 0);
    hsize_t n = 10;
    H5Handle lspace(H5Screate_simple(1, &n, nullptr), H5Sclose);
    H5Handle label(H5Dcreate2(file, "train_label", H5T_STD_I16LE, lspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    int16_t l[10] = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
    ASSERT_GE(H5Dwrite(label, H5T_NATIVE_INT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, l), 0);
  }
  ImageDataset ds(p);
  EXPECT_EQ(ds.info().image_shape, (Shape{4, 5, 1}));
  EXPECT_EQ(ds.classes(), 2);
  std::vector<uint8_t> block(200);
  BlockScratch scratch;
  ds.read_block(0, block.data(), scratch);
  EXPECT_EQ(block[199], static_cast<uint8_t>(199 * 7 + 1));
}

TEST_F(ReaderOpen, DatasetNamesAreConfigurable) {
  ImageFileSpec spec;
  spec.data_name = "X";
  spec.label_name = "y";
  write_image_file(path(), spec);
  std::string msg = error_of([&] { ImageDataset ds(path()); });
  EXPECT_MENTIONS(msg, path());
  EXPECT_MENTIONS(msg, "no image dataset /train_data");
  EXPECT_MENTIONS(msg, "/X");  // lists what the file does hold
  DatasetOptions opt;
  opt.data_name = "X";
  opt.label_name = "/y";
  ImageDataset ds(path(), opt);
  EXPECT_EQ(ds.info().data_name, "/X");
  EXPECT_EQ(ds.info().label_name, "/y");
}

// ---- Bad input: one test per case, each checking its message ----

TEST_F(ReaderOpen, MissingFile) {
  std::string msg = error_of([&] { ImageDataset ds(path("nope.h5")); });
  EXPECT_MENTIONS(msg, path("nope.h5"));
  EXPECT_MENTIONS(msg, "no such file");
}

TEST_F(ReaderOpen, NotAnHdf5File) {
  std::ofstream(path("text.h5")) << "this is not HDF5\n";
  std::string msg = error_of([&] { ImageDataset ds(path("text.h5")); });
  EXPECT_MENTIONS(msg, path("text.h5"));
  EXPECT_MENTIONS(msg, "not an HDF5 file");
}

TEST_F(ReaderOpen, MissingLabelDataset) {
  ImageFileSpec spec;
  spec.label_name = "labels";
  write_image_file(path(), spec);
  std::string msg = error_of([&] { ImageDataset ds(path()); });
  EXPECT_MENTIONS(msg, "no label dataset /train_label");
  EXPECT_MENTIONS(msg, "/labels");
}

TEST_F(ReaderOpen, DatasetIsAGroup) {
  ImageFileSpec spec;
  write_image_file(path(), spec);
  {
    H5Handle file(H5Fopen(path().c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    H5Handle g(H5Gcreate2(file, "grp", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  }
  DatasetOptions opt;
  opt.data_name = "grp";
  std::string msg = error_of([&] { ImageDataset ds(path(), opt); });
  EXPECT_MENTIONS(msg, "/grp in " + path());
  EXPECT_MENTIONS(msg, "not a dataset");
}

TEST_F(ReaderOpen, ImageAndLabelCountsDiffer) {
  ImageFileSpec spec;
  write_image_file(path(), spec);
  {
    H5Handle file(H5Fopen(path().c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    H5Ldelete(file, "train_label", H5P_DEFAULT);
    hsize_t n = 599;
    H5Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    H5Handle l(H5Dcreate2(file, "train_label", H5T_STD_U8LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    std::vector<uint8_t> v(599, 1);
    H5Dwrite(l, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  }
  std::string msg = error_of([&] { ImageDataset ds(path()); });
  EXPECT_MENTIONS(msg, "/train_data in " + path() + " holds 600 images");
  EXPECT_MENTIONS(msg, "599 labels");
}

void write_labels(const std::string& p, hid_t type, int rank, const hsize_t* dims, hid_t mem, const void* values) {
  H5Handle file(H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
  H5Ldelete(file, "train_label", H5P_DEFAULT);
  H5Handle space(H5Screate_simple(rank, dims, nullptr), H5Sclose);
  H5Handle l(H5Dcreate2(file, "train_label", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  H5Dwrite(l, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
}

TEST_F(ReaderOpen, NegativeLabel) {
  ImageFileSpec spec;
  spec.n = 20;
  write_image_file(path(), spec);
  std::vector<int32_t> v(20, 1);
  v[17] = -1;
  hsize_t n = 20;
  write_labels(path(), H5T_STD_I32LE, 1, &n, H5T_NATIVE_INT32, v.data());
  std::string msg = error_of([&] { ImageDataset ds(path()); });
  EXPECT_MENTIONS(msg, "label -1 at row 17 of /train_label in " + path());
  EXPECT_MENTIONS(msg, "negative");
}

TEST_F(ReaderOpen, LabelBeyondTheNamedClasses) {
  ImageFileSpec spec;
  spec.n = 20;
  spec.classes = 4;  // labels reach 3
  spec.class_names = {"a", "b", "c"};
  write_image_file(path(), spec);
  std::string msg = error_of([&] { ImageDataset ds(path()); });
  EXPECT_MENTIONS(msg, "label 3 in /train_label in " + path());
  EXPECT_MENTIONS(msg, "names 3 classes");
}

TEST_F(ReaderOpen, LabelsBeyondTheExpectedClasses) {
  ImageFileSpec spec;
  spec.n = 40;
  spec.classes = 4;  // labels 0..3
  write_image_file(path(), spec);
  DatasetOptions opt;
  opt.classes = 3;
  std::string msg = error_of([&] { ImageDataset ds(path(), opt); });
  EXPECT_MENTIONS(msg, "label 3 at row 30 of /train_label in " + path());
  EXPECT_MENTIONS(msg, "expected class indices 0..2");
  opt.classes = 5;  // more classes than the file uses is fine
  EXPECT_EQ(ImageDataset(path(), opt).classes(), 5);

  spec.labels = LabelKind::onehot_f32;
  write_image_file(path(), spec);
  opt.classes = 3;
  msg = error_of([&] { ImageDataset ds(path(), opt); });
  EXPECT_MENTIONS(msg, "/train_label in " + path() + " holds one-hot rows of 4 classes; expected 3");
}

TEST_F(ReaderOpen, LabelsNotOneHot) {
  ImageFileSpec spec;
  spec.n = 10;
  write_image_file(path(), spec);
  std::vector<float> v(30, 0.0f);
  for (int r = 0; r < 10; ++r) v[r * 3 + r % 3] = 1.0f;
  v[7 * 3 + 0] = 0.5f;
  v[7 * 3 + 1] = 0.5f;
  v[7 * 3 + 2] = 0.0f;
  hsize_t dims[2] = {10, 3};
  write_labels(path(), H5T_IEEE_F32LE, 2, dims, H5T_NATIVE_FLOAT, v.data());
  std::string msg = error_of([&] { ImageDataset ds(path()); });
  EXPECT_MENTIONS(msg, "row 7 of /train_label in " + path() + " is not one-hot");
  EXPECT_MENTIONS(msg, "[0.5, 0.5, 0]");
}

TEST_F(ReaderOpen, FloatClassIndicesAreRejected) {
  ImageFileSpec spec;
  spec.n = 10;
  write_image_file(path(), spec);
  std::vector<float> v(10, 1.0f);
  hsize_t n = 10;
  write_labels(path(), H5T_IEEE_F32LE, 1, &n, H5T_NATIVE_FLOAT, v.data());
  std::string msg = error_of([&] { ImageDataset ds(path()); });
  EXPECT_MENTIONS(msg, "/train_label in " + path() + " holds float32 values of shape (10,)");
  EXPECT_MENTIONS(msg, "expected integer class indices");
}

TEST_F(ReaderOpen, WrongRankAndDtype) {
  {
    H5Handle file(H5Fcreate(path().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    hsize_t n = 10;
    H5Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    H5Handle d(H5Dcreate2(file, "train_data", H5T_STD_U8LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  }
  std::string msg = error_of([&] { ImageDataset ds(path()); });
  EXPECT_MENTIONS(msg, "/train_data in " + path() + " has shape (10,)");
  EXPECT_MENTIONS(msg, "expected images (N, H, W, C)");
  {
    H5Handle file(H5Fcreate(path().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    hsize_t dims[4] = {10, 4, 4, 3};
    H5Handle space(H5Screate_simple(4, dims, nullptr), H5Sclose);
    H5Handle d(H5Dcreate2(file, "train_data", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  }
  msg = error_of([&] { ImageDataset ds(path()); });
  EXPECT_MENTIONS(msg, "/train_data in " + path() + " holds float64 pixels");
  EXPECT_MENTIONS(msg, "expected uint8");
}

TEST_F(ReaderOpen, FloatPixelsOutOfRange) {
  ImageFileSpec spec;
  spec.n = 10;
  write_image_file(path(), spec);
  {
    H5Handle file(H5Fopen(path().c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    H5Ldelete(file, "train_data", H5P_DEFAULT);
    hsize_t dims[2] = {10, 12};
    H5Handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
    H5Handle d(H5Dcreate2(file, "train_data", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    std::vector<float> v(120, 3.0f);
    v[50] = 1000.0f;
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  }
  DatasetOptions opt;
  opt.image_shape = Shape{2, 2, 3};
  std::string msg = error_of([&] { ImageDataset ds(path(), opt); });
  EXPECT_MENTIONS(msg, "/train_data in " + path() + " holds float pixels from 3 to 1000");
  EXPECT_MENTIONS(msg, "expected 0-1 or 0-255");
}

TEST_F(ReaderOpen, IncompleteMarker) {
  ImageFileSpec spec;
  spec.complete = 0;
  write_image_file(path(), spec);
  std::string msg = error_of([&] { ImageDataset ds(path()); });
  EXPECT_MENTIONS(msg, path() + " is incomplete");
  EXPECT_MENTIONS(msg, kCompleteAttribute);
}

TEST_F(ReaderOpen, ChunksNeverWritten) {
  // An extendable dataset grown to N rows but only partly written, as an interrupted writer leaves it.
  std::string p = path();
  {
    H5Handle file(H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    hsize_t dims[4] = {256, 4, 4, 3}, maxd[4] = {H5S_UNLIMITED, 4, 4, 3}, chunk[4] = {64, 4, 4, 3};
    H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(dcpl, 4, chunk);
    H5Handle space(H5Screate_simple(4, dims, maxd), H5Sclose);
    H5Handle d(H5Dcreate2(file, "train_data", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
    std::vector<uint8_t> px(64 * 48, 9);
    hsize_t start[4] = {0, 0, 0, 0}, count[4] = {64, 4, 4, 3};
    H5Handle fs(H5Dget_space(d), H5Sclose);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, nullptr, count, nullptr);
    H5Handle ms(H5Screate_simple(4, count, nullptr), H5Sclose);
    H5Dwrite(d, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, px.data());
    hsize_t n = 256;
    H5Handle ls(H5Screate_simple(1, &n, nullptr), H5Sclose);
    H5Handle l(H5Dcreate2(file, "train_label", H5T_STD_U8LE, ls, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    std::vector<uint8_t> lv(256, 1);
    H5Dwrite(l, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, lv.data());
  }
  std::string msg = error_of([&] { ImageDataset ds(p); });
  EXPECT_MENTIONS(msg, "/train_data in " + p);
  EXPECT_MENTIONS(msg, "only 1 of its 4 chunks were ever written");
}

TEST_F(ReaderOpen, TruncatedFilesNeverCrash) {
  ImageFileSpec spec;
  spec.n = 2000;
  spec.chunk = {64, 8, 8, 3};
  spec.deflate = 1;
  write_image_file(path(), spec);
  const auto full = std::filesystem::file_size(path());
  // Cut the file at many lengths: each must give an error (or, if the cut only removed
  // trailing free space, a file that reads back exactly).
  int errors = 0;
  for (int i = 1; i <= 12; ++i) {
    std::filesystem::copy_file(path(), path("cut.h5"), std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(path("cut.h5"), full * static_cast<uintmax_t>(i) / 13);
    std::string msg = error_of([&] {
      ImageDataset ds(path("cut.h5"));
      expect_all_rows(ds, spec.seed);
    });
    if (msg != "<no error>") {
      ++errors;
      EXPECT_MENTIONS(msg, path("cut.h5"));
    }
  }
  EXPECT_EQ(errors, 12);
}

TEST_F(ReaderOpen, TruncatedChunkIsNamed) {
  ImageFileSpec spec;
  spec.n = 640;
  spec.chunk = {64, 8, 8, 3};
  write_image_file(path(), spec);
  uint64_t last_end = 0;
  {
    ImageDataset ds(path());
    for (const StoredChunk& c : ds.index().chunks) last_end = std::max<uint64_t>(last_end, c.address + c.size);
  }
  // Keep the metadata (written before the chunks in this file? not guaranteed), cut into the last chunk.
  std::filesystem::resize_file(path(), last_end - 10);
  std::string msg = error_of([&] { ImageDataset ds(path()); });
  EXPECT_MENTIONS(msg, path());
  EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("cannot open") != std::string::npos) << msg;
}

TEST_F(ReaderOpen, CorruptChunkIsReportedWhenRead) {
  ImageFileSpec spec;
  spec.n = 640;
  spec.chunk = {64, 8, 8, 3};
  spec.deflate = 6;
  write_image_file(path(), spec);
  uint64_t addr = 0, size = 0;
  {
    ImageDataset ds(path());
    addr = ds.index().chunks[3].address;
    size = ds.index().chunks[3].size;
  }
  {
    std::fstream f(path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(addr + size / 2));
    std::string junk(16, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  ImageDataset ds(path());  // the index is intact
  BlockScratch scratch;
  std::vector<uint8_t> block(64 * 192);
  ds.read_block(2, block.data(), scratch);
  std::string msg = error_of([&] { ds.read_block(3, block.data(), scratch); });
  EXPECT_MENTIONS(msg, "rows 192..255 of /train_data in " + path());
  EXPECT_MENTIONS(msg, "corrupt chunk");
}

TEST_F(ReaderOpen, UnsupportedFilterGoesThroughHdf5) {
  ImageFileSpec spec;
  write_image_file(path(), spec);
  {
    // Rewrite the data with a Fletcher-32 checksum, which only HDF5 decodes.
    H5Handle file(H5Fopen(path().c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    H5Ldelete(file, "train_data", H5P_DEFAULT);
    hsize_t dims[4] = {600, 8, 8, 3}, chunk[4] = {100, 8, 8, 3};
    H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(dcpl, 4, chunk);
    H5Pset_fletcher32(dcpl);
    H5Handle space(H5Screate_simple(4, dims, nullptr), H5Sclose);
    H5Handle d(H5Dcreate2(file, "train_data", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
    std::vector<uint8_t> px(600 * 192);
    for (int64_t r = 0; r < 600; ++r)
      for (int64_t i = 0; i < 192; ++i) px[static_cast<size_t>(r * 192 + i)] = fixture_pixel(r, i, spec.seed);
    ASSERT_GE(H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, px.data()), 0);
  }
  ImageDataset ds(path());
  EXPECT_FALSE(ds.info().direct);
  EXPECT_NE(ds.info().why_not_direct.find("fletcher32"), std::string::npos);
  ASSERT_FALSE(ds.info().warnings.empty());
  expect_all_rows(ds, spec.seed);
}

TEST(ReaderOpenParse, ImageShapeText) {
  EXPECT_EQ(parse_image_shape("128,128,3"), (Shape{128, 128, 3}));
  EXPECT_EQ(parse_image_shape("64x32x1"), (Shape{64, 32, 1}));
  EXPECT_NE(error_of([] { parse_image_shape("128,128"); }).find("'128,128'"), std::string::npos);
  EXPECT_NE(error_of([] { parse_image_shape("a,b,c"); }).find("'a,b,c'"), std::string::npos);
  EXPECT_NE(error_of([] { parse_image_shape("0,4,3"); }).find("positive"), std::string::npos);
}

}  // namespace
