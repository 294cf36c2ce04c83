// Batch-norm fused with the ReLU after it, and optionally with the 2x2 max-pool after that, on
// the GPU. The fused forward never writes BN's or ReLU's output when it pools: it reads x
// (BN's input) and writes only the pooled output and the argmax. The fused backward takes the
// gradient of the last fused op's output and produces BN's dx, dgamma and dbeta in one
// reduction pass and one elementwise pass, with no intermediate gradient tensors.
//
// Backward needs x (BN's input, which the layer before keeps anyway), the last op's output
// (the ReLU output, or the pooled output, which the model keeps as an activation), the pool's
// argmax, and BN's saved mean / inv_std. Results equal the unfused chain
// batchnorm -> relu (-> maxpool2) up to float rounding; tests compare them.
// Workspace: batchnorm_workspace(M, C) doubles (kernels/cuda/batchnorm.h), M = N*H*W of x.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace knotnet::cuda {

// Statistics for the fused forward: train (batch statistics, running update, saved mean and
// inv_std) or infer (running statistics). Shared arguments of the forward launchers.
struct BnParams {
  const float* gamma = nullptr;  // (C)
  const float* beta = nullptr;   // (C)
  float* moving_mean = nullptr;  // (C), updated in training
  float* moving_var = nullptr;   // (C), updated in training
  float* save_mean = nullptr;    // (C), written in training
  float* save_inv_std = nullptr; // (C), written in training
  double momentum = 0.99;
  double epsilon = 1e-3;
  bool train = true;
};

// x: (N, H, W, C) or (M, C) -> y = relu(bn(x)): same shape.
void bn_relu_forward(const float* x, float* y, int64_t m, int64_t c, const BnParams& p, double* work,
                     cudaStream_t stream);
// x: (N, H, W, C) -> y: (N, H/2, W/2, C) = maxpool2(relu(bn(x))), argmax: (N, H/2, W/2, C).
void bn_relu_pool_forward(const float* x, float* y, uint8_t* argmax, int64_t n, int64_t h, int64_t w, int64_t c,
                          const BnParams& p, double* work, cudaStream_t stream);

// Training-mode backward of bn_relu_forward. x, y, dy: (M, C); dx: (M, C) or null (dx may alias dy).
void bn_relu_backward(const float* x, const float* y, const float* dy, float* dx, int64_t m, int64_t c,
                      const float* gamma, const float* save_mean, const float* save_inv_std, float* dgamma,
                      float* dbeta, double* work, cudaStream_t stream);
// Training-mode backward of bn_relu_pool_forward. x: (N, H, W, C); y, dy, argmax: (N, H/2, W/2, C);
// dx: (N, H, W, C) or null, fully written.
void bn_relu_pool_backward(const float* x, const float* y, const uint8_t* argmax, const float* dy, float* dx,
                           int64_t n, int64_t h, int64_t w, int64_t c, const float* gamma, const float* save_mean,
                           const float* save_inv_std, float* dgamma, float* dbeta, double* work, cudaStream_t stream);

}  // namespace knotnet::cuda
