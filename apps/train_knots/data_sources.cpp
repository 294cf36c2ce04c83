#include "apps/train_knots/data_sources.h"

namespace knotnet::app {

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
