// Which implementation runs each direction of a convolution on the GPU, chosen by timing
// (engine/layers/conv_autotune.h): this file holds the choosing itself, free of CUDA so that the
// CPU tests check it on made-up timings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace knotnet {

// How a CUDA model picks its convolutions' algorithms (ModelOptions::conv_search).
enum class ConvSearch : uint8_t {
  // Time every cuDNN algorithm allowed and the hand-written implicit GEMM on the plan's own
  // buffers once the model is allocated, and run the fastest for each direction (as PyTorch's
  // cudnn.benchmark does). Timings vary a little from run to run, so two runs may choose
  // differently and round differently.
  measured,
  // cuDNN's heuristics, no timing: the same algorithms every run (reproducible to the bit).
  heuristic,
};

// "measured" / "heuristic", and back; parse throws on anything else, listing the choices.
const char* conv_search_name(ConvSearch s);
ConvSearch parse_conv_search(const std::string& text);

enum class ConvDirection : uint8_t { forward = 0, filter = 1, data = 2 };

// "fwd", "bwd-filter", "bwd-data" (inline: kernels/cuda/conv_cudnn.cu names its directions too).
inline const char* conv_direction_name(ConvDirection d) {
  switch (d) {
    case ConvDirection::forward: return "fwd";
    case ConvDirection::filter: return "bwd-filter";
    case ConvDirection::data: return "bwd-data";
  }
  return "?";
}

// One way to run one direction, as timed.
struct ConvCandidate {
  bool cudnn = false;        // false: the implicit GEMM
  int algo = 0;              // cuDNN's algorithm number; for the implicit GEMM, its gemm::TileKind
  float ms = -1.0f;          // < 0: could not be timed (never chosen)
  bool deterministic = true;
  std::string label;         // for reports: "cuDNN algo 1 (fma)", "implicit GEMM"
};

// The index of the fastest timed candidate, or -1 when none was timed. prefer_deterministic:
// the fastest deterministic one when there is one. Ties go to the earlier candidate, so the
// choice depends only on the timings.
int fastest_candidate(const std::vector<ConvCandidate>& candidates, bool prefer_deterministic);

// "implicit GEMM 1.234 ms (cuDNN algo 1 (fma) 3.456 ms, ...)": the chosen one and the rest.
std::string describe_choice(const std::vector<ConvCandidate>& candidates, int chosen);

}  // namespace knotnet
