// Choosing, by timing, what runs each direction of one convolution on the GPU: cuDNN's
// algorithms (each timed by cudnnFind*Ex) against the hand-written implicit GEMM (timed with
// CUDA events), on the memory plan's own buffers once the model is allocated, before its first
// step. The implicit GEMM is timed in each of its GEMM tiles (64x64, 128x64, 128x128, 64x32: which is
// fastest depends on the shape and on occupancy, which only the card can tell). The fastest
// candidate wins per direction (engine/conv_choice.h), so a layer may run its forward on the
// implicit GEMM and its weight gradient on cuDNN.
//
// Non-obvious choices: the results are remembered for the rest of the process, keyed by
// everything that shapes them (geometry, batch, math, workspace, determinism), so that every
// model of the same shape in one process runs the same algorithms: two models compared bit for
// bit in a test, or a trainer's model and its evaluation twin, never differ by a timing
// accident. cuDNN's figures leave out the bias, which its path adds in passes of our own (the
// forward's cudnnAddTensor, the weight gradient's column sums): those are timed once and added,
// so the comparison with the implicit GEMM (which adds the bias in its store) is like for like.
#pragma once

#ifdef KNOTNET_HAVE_CUDA

#include <string>

#include <cuda_runtime.h>

#include "engine/conv_choice.h"
#include "kernels/cuda/conv_cudnn.h"
#include "kernels/cuda/gemm_tile.h"

namespace knotnet {

// The step's buffers at the planned batch; they hold nothing yet, and the outputs (y, dx, dw,
// db and the workspace) are overwritten.
struct ConvTuneBuffers {
  const float* x = nullptr;   // (N, H, W, C)
  const float* w = nullptr;   // (F, K, K, C)
  const float* b = nullptr;   // (F)
  float* y = nullptr;         // (N, OH, OW, F)
  const float* dy = nullptr;  // (N, OH, OW, F)
  float* dx = nullptr;        // (N, H, W, C); null: no data gradient (the first layer)
  float* dw = nullptr;        // (F, K, K, C)
  float* db = nullptr;        // (F)
  void* work = nullptr;           // the forward's workspace
  void* work_backward = nullptr;  // the gradients' workspace (work if null)
  size_t work_bytes = 0;          // the size of each
};

// What runs each direction (indexed by ConvDirection), and why.
struct ConvRouting {
  bool cudnn[3] = {false, false, false};
  cuda::CudnnAlgo algo[3];
  cuda::gemm::TileKind tile[3] = {cuda::gemm::TileKind::automatic, cuda::gemm::TileKind::automatic,
                                  cuda::gemm::TileKind::automatic};  // the implicit GEMM's, where it runs
  std::string report[3];  // describe_choice() of the direction's candidates
  bool from_cache = false;
};

// Times the candidates (cudnn null: the implicit GEMM only, in each of its tiles), chooses, and
// sets `cudnn` to run the directions it won (CudnnConv::use). Should the winners need more
// workspace at a smaller batch than b.work_bytes holds, every direction goes to the implicit GEMM,
// which fits any workspace that holds the bias sums.
ConvRouting tune_conv(cuda::CudnnConv* cudnn, const cuda::ConvDims& d, cuda::ConvMath math, bool prefer_deterministic,
                      const ConvTuneBuffers& b, cudaStream_t stream);

}  // namespace knotnet

#endif  // KNOTNET_HAVE_CUDA
