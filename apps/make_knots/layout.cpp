// File layouts and their attributes. The one non-obvious choice: a file's layout is read from
// its "layout" attribute and then confirmed against the datasets' actual shapes and types, so
// an append can never add rows of one shape to a file holding another.
#include "apps/make_knots/layout.h"

#include "engine/error.h"
#include "io/knots/knot_types.h"
#include "io/knots/render.h"

namespace knotnet::make_knots {

const char* layout_name(Layout l) { return l == Layout::native ? "native" : "seed"; }

Layout parse_layout(const std::string& s) {
  if (s == "native") return Layout::native;
  if (s == "seed") return Layout::seed;
  KN_THROW("layout must be native or seed, got ", s);
}

std::vector<AppendableDataset> layout_datasets(Layout layout, int size, int64_t chunk, int deflate) {
  AppendableDataset data, label;
  data.name = kDataName;
  data.element = H5Element::u8;
  data.row_shape = layout == Layout::native ? std::vector<int64_t>{size, size, 3} : std::vector<int64_t>{int64_t{size} * size * 3};
  data.chunk_rows = chunk;
  data.deflate = deflate;
  label.name = kLabelName;
  label.element = layout == Layout::native ? H5Element::u8 : H5Element::f32;
  label.row_shape = layout == Layout::native ? std::vector<int64_t>{} : std::vector<int64_t>{knots::kNumClasses};
  label.chunk_rows = kLabelChunkRows;
  label.deflate = deflate;
  return {data, label};
}

std::vector<uint8_t> encode_labels(Layout layout, const uint8_t* labels, int64_t n) {
  if (layout == Layout::native) return std::vector<uint8_t>(labels, labels + n);
  std::vector<float> onehot(static_cast<size_t>(n) * knots::kNumClasses, 0.0f);
  for (int64_t i = 0; i < n; ++i) onehot[static_cast<size_t>(i) * knots::kNumClasses + labels[i]] = 1.0f;
  const auto* bytes = reinterpret_cast<const uint8_t*>(onehot.data());
  return std::vector<uint8_t>(bytes, bytes + onehot.size() * sizeof(float));
}

FileFacts read_file_facts(const std::filesystem::path& path) {
  Completeness c = read_completeness(path);
  KN_CHECK(c != Completeness::Incomplete, path.string(), " is marked incomplete (", kCompleteAttribute,
           " = 0): a write to it was interrupted; make it again");
  H5FileView view(path);
  KN_CHECK(view.has_attribute("generator") && view.string_attribute("generator") == kGeneratorName, path.string(),
           " was not written by make_knots (its root attribute \"generator\" is not \"", kGeneratorName,
           "\"), so make_knots cannot append to it");
  KN_CHECK(c == Completeness::Complete, path.string(), " has no ", kCompleteAttribute, " attribute");
  int64_t version = view.int_attribute("generator_version");
  KN_CHECK(version == knots::kGeneratorVersion, path.string(), " was written by make_knots generator version ", version,
           ", this is version ", knots::kGeneratorVersion, "; appending would mix two generators");
  FileFacts f;
  f.layout = parse_layout(view.string_attribute("layout"));
  f.size = static_cast<int>(view.int_attribute("image_size"));
  f.seed = view.uint_attribute("seed");
  f.class_counts = view.ints_attribute("class_counts");
  KN_CHECK(f.class_counts.size() == knots::kNumClasses, path.string(), " has ", f.class_counts.size(),
           " class counts, expected ", knots::kNumClasses);
  AppendableDataset data = view.dataset(kDataName), label = view.dataset(kLabelName);
  auto expected = layout_datasets(f.layout, f.size, data.chunk_rows, data.deflate);
  KN_CHECK(data.element == expected[0].element && data.row_shape == expected[0].row_shape, path.string(), " holds ",
           data.describe(), ", which is not the ", layout_name(f.layout), " layout of ", f.size, "x", f.size,
           " images its attributes claim");
  KN_CHECK(label.element == expected[1].element && label.row_shape == expected[1].row_shape, path.string(), " holds ",
           label.describe(), ", which is not the ", layout_name(f.layout), " layout's label dataset");
  KN_CHECK(data.rows == label.rows, path.string(), " holds ", data.rows, " images but ", label.rows, " labels");
  int64_t counted = f.class_counts[0] + f.class_counts[1] + f.class_counts[2];
  KN_CHECK(counted == data.rows, path.string(), " holds ", data.rows, " images but its class_counts add up to ", counted);
  f.rows = data.rows;
  f.chunk = data.chunk_rows;
  f.deflate = data.deflate;
  return f;
}

void write_attributes(H5AppendWriter& w, Layout layout, int size, uint64_t seed, const std::vector<int64_t>& class_counts) {
  w.set_string_attribute("generator", kGeneratorName);
  w.set_int_attribute("generator_version", knots::kGeneratorVersion);
  w.set_uint_attribute("seed", seed);
  std::vector<std::string> names;
  for (int c = 0; c < knots::kNumClasses; ++c) names.emplace_back(knots::class_name(static_cast<knots::KnotClass>(c)));
  w.set_strings_attribute("class_names", names);
  w.set_string_attribute("layout", layout_name(layout));
  w.set_int_attribute("image_size", size);
  w.set_ints_attribute("class_counts", class_counts);
}

}  // namespace knotnet::make_knots
