// train_knots: train, evaluate and inspect knot-diagram classifiers. See --help.
#include <cstdio>
#include <exception>
#include <map>

#include "apps/train_knots/command.h"
#include "engine/error.h"

namespace knotnet::app {
std::vector<Command>& commands() {
  static std::vector<Command> all;
  return all;
}
}  // namespace knotnet::app

int main(int argc, char** argv) {
  using namespace knotnet::app;
  CLI::App app{"train_knots: train image classifiers on HDF5 files too large for RAM, on one GPU or the CPU"};
  app.require_subcommand(1);
  std::map<CLI::App*, std::function<int()>> runners;
  for (const Command& c : commands()) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    runners[sub] = c.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const knotnet::Error& e) {
    std::fprintf(stderr, "train_knots: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_knots: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
