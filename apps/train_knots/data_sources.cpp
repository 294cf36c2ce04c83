#include "apps/train_knots/data_sources.h"

namespace knotnet::app {

void add_data_options(CLI::App& sub, DataFlags& f, bool required) {
  auto* data = sub.add_option("--data", f.path, "HDF5 file with the images and labels");
  if (required) data->required();
  sub.add_option("--image-shape", f.image_shape, "H,W,C for files that store flat images without saying");
  sub.add_option("--data-name", f.data_dataset, "dataset holding the images")->capture_default_str();
  sub.add_option("--label-name", f.label_dataset, "dataset holding the labels")->capture_default_str();
}

DatasetOptions dataset_options(const DataFlags& f) {
  DatasetOptions o;
  o.data_name = f.data_dataset;
  o.label_name = f.label_dataset;
  if (!f.image_shape.empty()) o.image_shape = parse_image_shape(f.image_shape);
  return o;
}

void check_data_fits_model(const ImageDataset& data, const Model& model) {
  const DatasetInfo& info = data.info();
  KN_CHECK(info.image_shape == model.input_shape(), info.path, " holds images ", info.image_shape.str(),
           " but the model takes ", model.input_shape().str());
  KN_CHECK(data.classes() == model.classes(), "the model ends in ", model.classes(), " classes but ", info.path,
           " has ", data.classes(), "; change the last dense layer to 'dense ", data.classes(), "'");
}

std::vector<int64_t> rows_for_part(const ImageDataset& data, const std::string& part, const std::string& split,
                                   uint64_t seed) {
  if (part == "all") {
    std::vector<int64_t> rows(static_cast<size_t>(data.size()));
    for (int64_t i = 0; i < data.size(); ++i) rows[static_cast<size_t>(i)] = i;
    return rows;
  }
  Split s = stratified_split(data.labels(), data.classes(), data.block_rows(), parse_split_fractions(split), seed);
  std::vector<int64_t> rows = s[parse_split_part(part)];
  KN_CHECK(!rows.empty(), "the ", part, " part of split ", split, " is empty");
  return rows;
}

std::vector<std::string> class_names(const DatasetInfo& info) {
  std::vector<std::string> names = info.class_names;
  for (int k = static_cast<int>(names.size()); k < info.classes; ++k) names.push_back("class " + std::to_string(k));
  return names;
}

}  // namespace knotnet::app
