// A direct convolution forward for layers with few input channels (a first layer: 3x3 over RGB),
// where the implicit GEMM's K = K*K*C is so short (27) that each tile spends more on its set-up,
// its im2col index arithmetic and its stores than on its multiply-adds.
//
// Each thread computes 4 neighbouring output pixels of one row for 16 filters: it holds the
// K x (K + 3) x C input values they need in registers, and reads the filters from shared memory,
// where a block stages its 16 filters transposed (patch-major), so that every thread reads the
// same 16 weights at once (broadcasts, 4 of them 16 bytes wide) for 64 multiply-adds.
//
// Bit for bit the implicit GEMM's result (conv_implicit_gemm.h): each output is the same chain
// of fmaf over the patch in its order (kh, kw, c), from 0, with the bias added last; a padded
// input contributes nothing there either (fmaf(0, w, s) == s). So timing may choose it for the
// forward (engine/layers/conv_autotune.h: gemm::TileKind::direct) in the GEMM's place without a
// bit changing; where it replaces cuDNN, the rounding changes as the GEMM's would.
// Supported: odd K in {1, 3, 5} with K*K*C <= 27 (C up to 4, 3 and 1), F a multiple of 4, either
// padding; anything else stays on the implicit GEMM or cuDNN.
#pragma once

#include <cuda_runtime.h>

#include "kernels/cuda/conv_dims.h"

namespace knotnet::cuda {

bool conv_direct_supported(const ConvDims& d);

// x: (N, H, W, C), w: (F, K, K, C), b: (F) or null -> y: (N, OH, OW, F). Throws when
// !conv_direct_supported(d).
void conv_direct_forward(const float* x, const float* w, const float* b, float* y, const ConvDims& d,
                         cudaStream_t stream);

}  // namespace knotnet::cuda
