// The card as knotnet sees it before it allocates: total and free memory, and what its own CUDA
// context and library handles took (measured, not guessed: see CudaContext).
#pragma once

#include <cstddef>
#include <string>

namespace knotnet {

struct DeviceMemory {
  size_t total = 0;    // the card's memory
  size_t free = 0;     // free before knotnet allocates anything (after its context exists)
  size_t context = 0;  // what knotnet's CUDA context and library handles took, measured
  int cc_major = 0;    // compute capability (TensorFlow's preallocation reserve depends on it)
  // How `context` was measured ("NVML ...", "cudaMemGetInfo ..."); empty for a pretend card.
  std::string context_method = {};
};

// The GPU's memory as seen from this process, its CUDA context made (and measured) first.
// Throws in a build without CUDA or without a visible GPU.
DeviceMemory query_device_memory();

}  // namespace knotnet
