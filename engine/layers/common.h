// What the layers share: the compute stream of the CUDA path, the workspace check, and the
// error for a CUDA tensor in a build without CUDA.
//
// Workspace needs are computed at the planned batch only: the kernels' split-K takes fewer
// splits when the workspace is short (so a smaller batch never needs more for correctness), and
// the reduction partials grow with the batch.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "engine/layer.h"

#ifdef KNOTNET_HAVE_CUDA
#include "engine/cuda_context.h"
#endif

namespace knotnet {

#ifdef KNOTNET_HAVE_CUDA
// The stream every kernel of a step runs on.
inline cudaStream_t compute_stream() { return CudaContext::get().compute(); }
#endif

// A CUDA tensor reached a layer in a build without the CUDA backend.
[[noreturn]] inline void throw_no_cuda(const Layer& layer, const char* what) {
  KN_THROW("layer '", layer.name(), "' (", layer.kind(), ") ", what,
           ": the CUDA backend is not in this build yet; use --device cpu");
}

// The workspace bound to a layer for the running step, checked to be there and large enough.
inline void check_workspace(const Layer& layer, const Tensor& ws, size_t need) {
  KN_CHECK(need == 0 || (!ws.empty() && ws.bytes() >= need), "layer '", layer.name(), "' needs ", need,
           " bytes of device workspace, the model bound ", ws.empty() ? 0 : ws.bytes());
}

}  // namespace knotnet
