// make_optimizer: picks an optimizer by name (case-insensitive) and lets it validate its
// hyper-parameters. Non-obvious choice: the table of names is the single source for both the
// factory and optimizer_names(), so an unknown name's message always lists what exists.
#include <algorithm>
#include <cctype>
#include <string>

#include "engine/optimizer.h"
#include "engine/optimizers/optimizers.h"

namespace knotnet {

namespace {

struct Entry {
  const char* name;
  std::unique_ptr<Optimizer> (*make)(const OptimizerConfig&);
};

constexpr Entry kOptimizers[] = {
    {"sgd", optim::make_sgd},
    {"adagrad", optim::make_adagrad},
    {"rmsprop", optim::make_rmsprop},
    {"adam", optim::make_adam},
};

}  // namespace

std::vector<std::string> optimizer_names() {
  std::vector<std::string> names;
  for (const Entry& e : kOptimizers) names.emplace_back(e.name);
  return names;
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config) {
  std::string key = config.name;
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const Entry& e : kOptimizers)
    if (key == e.name) return e.make(config);
  std::string known;
  for (const Entry& e : kOptimizers) known += (known.empty() ? "" : ", ") + std::string(e.name);
  KN_THROW("unknown optimizer '", config.name, "'; expected one of: ", known);
}

}  // namespace knotnet
