#include "apps/train_knots/report.h"

#include <hdf5.h>

#include <algorithm>
#include <cstdio>

#ifdef KNOTNET_HAVE_CUDA
#include <cuda_runtime.h>
#include <cudnn.h>
#endif

namespace knotnet::app {

std::string format_confusion(const Evaluation& ev, const std::vector<std::string>& names) {
  size_t w = 9;
  for (const auto& n : names) w = std::max(w, n.size() + 1);
  std::string out = "confusion matrix (rows: true class, columns: predicted)\n";
  char cell[64];
  std::snprintf(cell, sizeof cell, "%*s", static_cast<int>(w), "");
  out += cell;
  for (const auto& n : names) {
    std::snprintf(cell, sizeof cell, "%*s", static_cast<int>(w), n.c_str());
    out += cell;
  }
  out += "\n";
  for (int64_t i = 0; i < ev.classes; ++i) {
    std::snprintf(cell, sizeof cell, "%*s", static_cast<int>(w), names[static_cast<size_t>(i)].c_str());
    out += cell;
    for (int64_t j = 0; j < ev.classes; ++j) {
      std::snprintf(cell, sizeof cell, "%*lld", static_cast<int>(w),
                    static_cast<long long>(ev.confusion[static_cast<size_t>(i * ev.classes + j)]));
      out += cell;
    }
    out += "\n";
  }
  return out;
}

nlohmann::json evaluation_json(const Evaluation& ev, const std::vector<std::string>& names) {
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t i = 0; i < ev.classes; ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t j = 0; j < ev.classes; ++j) row.push_back(ev.confusion[static_cast<size_t>(i * ev.classes + j)]);
    rows.push_back(row);
  }
  return {{"loss", ev.loss}, {"accuracy", ev.accuracy()}, {"count", ev.count}, {"classes", names},
          {"confusion", rows}};
}

nlohmann::json versions_json() {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  nlohmann::json v = {{"knotnet", "0.1.0"},
                      {"hdf5", std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel)},
                      {"compiler", __VERSION__}};
#ifdef KNOTNET_HAVE_CUDA
  int rt = 0;
  cudaRuntimeGetVersion(&rt);
  v["cuda_runtime"] = rt;
  v["cudnn"] = cudnnGetVersion();
#endif
  return v;
}

}  // namespace knotnet::app
