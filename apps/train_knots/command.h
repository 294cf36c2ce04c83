// train_knots is one program with subcommands (fit, evaluate, predict, inspect, plan, demo).
// Each subcommand lives in its own cmd_*.cpp and registers itself with KN_REGISTER_COMMAND, so
// adding one touches no other file.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace knotnet::app {

struct Command {
  std::string name;
  std::string help;
  // Adds the subcommand's options to `sub` and returns the function that runs it (returning
  // the process exit status). Options are bound to state captured by that function.
  std::function<std::function<int()>(CLI::App& sub)> setup;
};

std::vector<Command>& commands();

struct Registrar {
  explicit Registrar(Command c) { commands().push_back(std::move(c)); }
};

}  // namespace knotnet::app

#define KN_REGISTER_COMMAND(ident, ...) \
  static ::knotnet::app::Registrar kn_registrar_##ident(::knotnet::app::Command{__VA_ARGS__})
