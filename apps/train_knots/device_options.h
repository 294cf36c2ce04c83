// GPU flags shared by the subcommands that build a model (fit, evaluate, predict).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace knotnet::app {

// --conv-algo measured|heuristic (engine/conv_choice.h), default measured.
void add_conv_algo_option(CLI::App& sub, std::string& value);

}  // namespace knotnet::app
