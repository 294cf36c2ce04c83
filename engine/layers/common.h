// What the layers share: the error for a backend that is not built yet.
#pragma once

#include "engine/layer.h"

namespace knotnet {

// Every layer runs on the CPU today; the CUDA kernels come with the CUDA backend.
[[noreturn]] inline void throw_no_cuda(const Layer& layer, const char* what) {
  KN_THROW("layer '", layer.name(), "' (", layer.kind(), ") ", what,
           ": the CUDA backend is not in this build yet; use --device cpu");
}

}  // namespace knotnet
