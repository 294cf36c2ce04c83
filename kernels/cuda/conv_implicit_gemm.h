// Hand-written convolution on the GPU: implicit GEMM through the shared tiled SGEMM core
// (tile_gemm.cuh), strict fp32, any kernel size and either padding (asymmetric 'same' for an
// even k included). Weights (F, K, K, C), bias (F), NHWC activations, as in kernels/cpu/conv.h.
//   forward       y (N*OH*OW, F)   = im2col(x) (N*OH*OW, KKC) * w^T (KKC, F) + b
//   data grad     dx (N*H*W, C)    = im2col'(dy) (N*H*W, K*K*F) * w' (K*K*F, C)
//   weight grad   dw (F, KKC)      = dy^T (F, N*OH*OW) * im2col(x) (N*OH*OW, KKC)   (split over K)
//   bias grad     db (F)           = column sums of dy
// The column matrices are never stored: the loaders compute each element from its indices.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "kernels/cuda/conv_dims.h"
#include "kernels/cuda/gemm_tile.h"

namespace knotnet::cuda {

// Bytes of workspace conv_igemm_backward needs in any tile (the weight gradient's split-K
// partials, then the bias gradient's partial sums, or the direct convolution's partials; forward
// needs none).
size_t conv_igemm_workspace_bytes(const ConvDims& d);

// x: (N, H, W, C), w: (F, K, K, C), b: (F) -> y: (N, OH, OW, F).
// tile: the GEMM tile to run in (automatic: the core's choice by shape); each direction is the
// same arithmetic in any tile, bar the split-K chunks of the weight gradient. The forward and
// the weight gradient also take TileKind::direct where conv_direct_supported(d): the direct
// convolution (conv_direct.h), whose forward is the GEMM's bit for bit and whose weight and bias
// gradients sum in their own order; the data gradient refuses it.
void conv_igemm_forward(const float* x, const float* w, const float* b, float* y, const ConvDims& d,
                        cudaStream_t stream, gemm::TileKind tile = gemm::TileKind::automatic);
// The two halves of the backward, each usable alone (a layer may run one on cuDNN):
// x: (N, H, W, C), dy: (N, OH, OW, F) -> overwrites dw: (F, K, K, C) and db: (F).
void conv_igemm_backward_filter(const float* x, const float* dy, float* dw, float* db, const ConvDims& d, void* work,
                                size_t work_bytes, cudaStream_t stream,
                                gemm::TileKind tile = gemm::TileKind::automatic);
// dy: (N, OH, OW, F), w: (F, K, K, C) -> overwrites dx: (N, H, W, C). Needs no workspace.
void conv_igemm_backward_data(const float* dy, const float* w, float* dx, const ConvDims& d, cudaStream_t stream,
                              gemm::TileKind tile = gemm::TileKind::automatic);
// Both: overwrites dw, db, and dx unless dx is null.
void conv_igemm_backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                         const ConvDims& d, void* work, size_t work_bytes, cudaStream_t stream);

}  // namespace knotnet::cuda
