// Convolution through cuDNN (legacy convolution API, NHWC tensors, KRSC = (F, K, K, C) filters),
// with the algorithm for each direction chosen once, when the model is built, under a
// workspace limit that comes from the memory plan. The chosen algorithms' largest workspace
// need is what the plan reserves: one buffer shared by every convolution, sized to the largest
// need, not the sum.
//
// Limits: the legacy API pads symmetrically, so an even kernel with 'same' padding (asymmetric)
// is refused here and runs on the implicit-GEMM path (conv_implicit_gemm.h) instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <cuda_runtime.h>
#include <cudnn.h>

#include "kernels/cuda/conv_dims.h"

namespace knotnet::cuda {

enum class ConvMath : uint8_t {
  fp32,  // strict fp32: only CUDNN_FMA_MATH algorithms (no TF32 tensor cores)
  tf32,  // TF32 tensor cores allowed
};

class CudnnConv {
 public:
  // Plans for batch d.n (the largest batch the layer will see). Throws naming the shape when
  // cuDNN offers no algorithm for a direction within workspace_limit bytes under `math`;
  // supported() says beforehand whether the shape is expressible at all.
  // prefer_deterministic: of the algorithms allowed, take the heuristics' first deterministic one
  // when there is one (reproducible runs), else their first (usually the fastest).
  CudnnConv(cudnnHandle_t handle, const ConvDims& d, ConvMath math, size_t workspace_limit,
            bool need_data_grad = true, bool prefer_deterministic = true);
  ~CudnnConv();
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  static bool supported(const ConvDims& d) { return d.symmetric(); }

  // The largest workspace the three chosen algorithms need at any batch up to the planned one
  // (asked of cuDNN for every size at build: a partial batch may need more than a full one),
  // or the bias gradient's partial sums, if larger.
  size_t workspace_bytes() const { return workspace_; }
  // "fwd IMPLICIT_PRECOMP_GEMM (FMA, 0 B), bwd-data ..., bwd-filter ..."
  std::string describe() const;

  // x: (n, H, W, C), w: (F, K, K, C), b: (F) -> y: (n, OH, OW, F), n <= the planned batch.
  void forward(const float* x, const float* w, const float* b, float* y, int64_t n, void* work, size_t work_bytes,
               cudaStream_t stream);
  // Overwrites dw, db and (unless null) dx.
  void backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int64_t n,
                void* work, size_t work_bytes, cudaStream_t stream);

 private:
  void build(ConvMath math, size_t workspace_limit);
  void destroy() noexcept;
  void set_batch(int64_t n);
  size_t need_at_current_batch(bool fwd, bool data, bool filter) const;

  cudnnHandle_t handle_;
  ConvDims dims_;
  bool need_data_grad_;
  bool prefer_deterministic_;
  int64_t cur_n_ = -1;
  // Workspace needed at the last batch size each direction ran at (asked of cuDNN once per size).
  int64_t fwd_need_n_ = -1, bwd_need_n_ = -1;
  bool bwd_need_data_ = false;
  size_t fwd_need_ = 0, bwd_need_ = 0;
  size_t workspace_ = 0;
  cudnnTensorDescriptor_t x_desc_ = nullptr, y_desc_ = nullptr, bias_desc_ = nullptr;
  cudnnFilterDescriptor_t w_desc_ = nullptr;
  // One convolution descriptor per direction, each carrying its algorithm's math type.
  cudnnConvolutionDescriptor_t fwd_desc_ = nullptr, bwd_data_desc_ = nullptr, bwd_filter_desc_ = nullptr;
  cudnnConvolutionFwdAlgo_t fwd_algo_{};
  cudnnConvolutionBwdDataAlgo_t bwd_data_algo_{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo_{};
  cudnnMathType_t fwd_math_{}, bwd_data_math_{}, bwd_filter_math_{};
  size_t fwd_ws_ = 0, bwd_data_ws_ = 0, bwd_filter_ws_ = 0;
};

}  // namespace knotnet::cuda
