#include "apps/train_knots/device_options.h"

namespace knotnet::app {

void add_conv_algo_option(CLI::App& sub, std::string& value) {
  sub.add_option("--conv-algo", value,
                 "how GPU convolutions are chosen: measured (cuDNN's algorithms and the implicit GEMM timed per "
                 "direction when the model is built, the fastest kept; runs, a resumed one included, may choose and so round differently) "
                 "or heuristic (cuDNN's heuristics: the same algorithms every run)")
      ->capture_default_str()
      ->check(CLI::IsMember({"measured", "heuristic"}));
}

}  // namespace knotnet::app
