// Silent units: conv output channels and dense outputs that have had no gradient for hundreds of
// steps, on any image of any batch. Behind a ReLU that means the unit is off for every image
// (a "dead" unit), and no gradient will ever bring it back.
//
// Read from the optimizer's first slot, which shrinks by a fixed factor each step the gradient
// is zero: Adam's first moment (beta1), SGD's velocity (momentum), RMSprop's mean square (rho;
// compared by its square root, on the gradient's scale, which shrinks by sqrt(rho)). A unit is
// silent when every entry of that slot for its kernel and its bias is below kSilentThreshold. A
// live value of 1e-3 or less falls below it within silent_window_steps() of zero gradient (372
// at a factor 0.9; 744 for RMSprop's default rho), and float32 keeps it at a few denormals from
// there on. Adagrad's accumulators never shrink, and SGD without momentum keeps no slot: for
// them, and for factors so close to 1 that the window would pass 2,000 steps, there is no
// census (silent_units returns nothing).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model.h"

namespace knotnet {

inline constexpr double kSilentThreshold = 1e-20;

struct UnitCensus {
  std::string layer;   // "conv_2", "dense_1"
  int64_t units = 0;   // output channels or outputs
  int64_t silent = 0;  // of them, silent
};

// Steps of zero gradient after which a slot value of 1e-3 is below kSilentThreshold for this
// optimizer; 0 when it keeps no shrinking slot or the window would pass 2,000 steps.
int64_t silent_window_steps(const OptimizerConfig& config);

// One entry per conv and dense layer, in model order; empty when silent_window_steps is 0.
// Copies the first slot to the host (waiting for the compute stream); refused while a pipelined
// GPU step is in flight.
std::vector<UnitCensus> silent_units(const Model& model);

}  // namespace knotnet
