// Checkpoints in HDF5: everything needed to rebuild a model and continue training exactly.
//
//   /            attributes: format = "knotnet-checkpoint", format_version, spec (the model's
//                spec text), input_shape, batch, dtype, seed, optimizer (JSON of its config),
//                lr, epoch (epochs completed), step (updates taken), trainer_state (JSON kept
//                by the trainer: callbacks, history)
//   /weights/<layer>/<param>   every parameter and statistic under its layer's name
//                              (conv_1/kernel is (Cout, KH, KW, Cin), dense_1/kernel (in, out))
//   /optimizer/slot<i>         the optimizer's flat state buffers
//
// Saving writes a temporary file beside the target, syncs it to disk and renames it over the
// target only when it is complete (a failed write removes it), so neither a killed process nor
// a power cut leaves a corrupt checkpoint under the real name.
#pragma once

#include <memory>
#include <string>

#include "engine/model.h"

namespace knotnet {

struct CheckpointInfo {
  std::string spec_text;
  Shape input_shape;
  int64_t batch = 0;
  DType dtype = DType::f32;
  uint64_t seed = 0;
  OptimizerConfig optimizer;
  double lr = 0;
  int64_t epoch = 0;
  int64_t step = 0;
  std::string trainer_state;  // JSON, opaque here
};

// Writes model state, with `epoch` epochs completed and the trainer's JSON state.
void save_checkpoint(const std::string& path, const Model& model, const std::string& spec_text, int64_t epoch,
                     const std::string& trainer_state);
// Reads the attributes only (cheap): enough to rebuild the model.
CheckpointInfo read_checkpoint_info(const std::string& path);
// Loads weights, statistics, optimizer state, lr and step count into a model built from the
// same spec; throws naming the tensor when a name or shape does not match.
void load_checkpoint(const std::string& path, Model& model);
// Builds a model from a checkpoint (its spec and input shape) for batch size `batch` on
// `device`, its GPU convolutions chosen by `conv_search`, and loads it.
std::unique_ptr<Model> model_from_checkpoint(const std::string& path, int64_t batch, Device device,
                                             ConvSearch conv_search = ConvSearch::measured);

}  // namespace knotnet
