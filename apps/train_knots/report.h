// Evaluation results for people and tools: the confusion matrix as a table with class names,
// the same as JSON, and the versions of what built this program.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/trainer.h"

namespace knotnet::app {

std::string format_confusion(const Evaluation& ev, const std::vector<std::string>& class_names);
nlohmann::json evaluation_json(const Evaluation& ev, const std::vector<std::string>& class_names);
nlohmann::json versions_json();

}  // namespace knotnet::app
