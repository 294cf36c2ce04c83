// Flag parsing shared by train_knots subcommands: devices, image shapes, optimizer settings.
#pragma once

#include <string>

#include "engine/optimizer.h"
#include "engine/tensor.h"

namespace knotnet::app {

// "auto" (CUDA when this build has it and a GPU is present, else the CPU), "cpu" or "cuda".
Device resolve_device(const std::string& flag);
// "H,W,C" (or "F") into a per-sample shape; throws naming the flag's value.
Shape parse_image_shape(const std::string& flag);
// True when this build has the CUDA backend and a GPU is present.
bool cuda_available();

}  // namespace knotnet::app
