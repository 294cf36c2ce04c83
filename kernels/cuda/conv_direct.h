// A direct convolution for layers with few input channels (a first layer: 3x3 over RGB), where
// the implicit GEMM's K = K*K*C is so short (27) that each tile spends more on its set-up, its
// im2col index arithmetic and its stores than on its multiply-adds: the forward, and the weight
// and bias gradients (there is no data gradient to take for a first layer; the GEMM's stays).
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
//
// The weight gradient, dw[f][q] = sum over pixels p of dy[p][f] * im2col(x)[p][q], and the bias
// gradient db[f] = sum of dy[p][f], in one read of dy (the implicit GEMM reads it twice: its
// column sums, then the GEMM). conv_1's dy at batch 128 is 520 MB, and the product is only
// 27 columns wide. Each thread takes 4 neighbouring pixels of a row at a time for 4 filters:
// their dy as float4s, the K x (K + 3) x C inputs in registers, 4 x 4 x K*K*C multiply-adds
// into 4 x K*K*C accumulators. A block's 32 pixel slots are summed in shared memory in a fixed
// order, each block writes its partial sums to the workspace, and a second kernel adds the
// blocks' partials in order, in double: deterministic, no atomics. Not bit for bit the
// GEMM's (its split-K sums in other chunks); tested against the CPU like the GEMM's.
#pragma once

#include <cstddef>

#include <cuda_runtime.h>

#include "kernels/cuda/conv_dims.h"

namespace knotnet::cuda {

bool conv_direct_supported(const ConvDims& d);

// x: (N, H, W, C), w: (F, K, K, C), b: (F) or null -> y: (N, OH, OW, F). Throws when
// !conv_direct_supported(d).
void conv_direct_forward(const float* x, const float* w, const float* b, float* y, const ConvDims& d,
                         cudaStream_t stream);

// Bytes of workspace the weight gradient wants at this shape (it runs in fewer blocks, down to
// one, with less; fewer blocks change the sums' order, not their terms).
size_t conv_direct_filter_workspace_bytes(const ConvDims& d);
// The least it runs in: one block's partial sums (0 where !conv_direct_supported(d)).
size_t conv_direct_filter_min_workspace_bytes(const ConvDims& d);

// x: (N, H, W, C), dy: (N, OH, OW, F) -> overwrites dw: (F, K, K, C) and db: (F). Throws when
// !conv_direct_supported(d), or when work_bytes cannot hold one block's partial sums.
void conv_direct_backward_filter(const float* x, const float* dy, float* dw, float* db, const ConvDims& d, void* work,
                                 size_t work_bytes, cudaStream_t stream);

}  // namespace knotnet::cuda
