#include "apps/train_knots/data_sources.h"

namespace knotnet::app {

std::vector<std::string> class_names(const DatasetInfo& info) {
  std::vector<std::string> names = info.class_names;
  for (int k = static_cast<int>(names.size()); k < info.classes; ++k) names.push_back("class " + std::to_string(k));
  return names;
}

}  // namespace knotnet::app
