// train_knots: train, evaluate and inspect knot-diagram classifiers. See --help.
#include <cstdio>
#include <exception>
#include <algorithm>
#include <map>
#include <string>
#include <vector>

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
  // `train_knots --data FILE ...` means `train_knots fit --data FILE ...`, as the README shows.
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0].rfind("--", 0) == 0 && args[0] != "--help") args.insert(args.begin(), "fit");
  std::reverse(args.begin(), args.end());  // CLI11 takes the vector form in reverse order
  try {
    app.parse(args);
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
