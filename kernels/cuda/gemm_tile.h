// The tile shapes the tiled SGEMM core (tile_gemm.cuh) can run, named for host code that picks
// one (engine/layers/conv_autotune.h times them): automatic lets the core choose by the output's
// shape (gemm::choose_tile).
#pragma once

#include <cstdint>

namespace knotnet::cuda::gemm {

enum class TileKind : uint8_t {
  automatic,
  small,  // 64 x 64, 4 x 4 per thread
  tall,   // 128 x 64, 8 x 4 per thread
  wide,   // 128 x 128, 8 x 8 per thread
  narrow, // 64 x 32, 4 x 2 per thread
  direct, // not a GEMM tile: the direct convolution (conv_direct.h), few channels; no data gradient
};

inline const char* tile_name(TileKind t) {
  switch (t) {
    case TileKind::automatic: return "auto";
    case TileKind::small: return "64x64";
    case TileKind::tall: return "128x64";
    case TileKind::wide: return "128x128";
    case TileKind::narrow: return "64x32";
    case TileKind::direct: return "direct";
  }
  return "?";
}

}  // namespace knotnet::cuda::gemm
