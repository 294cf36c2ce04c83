// Convolution through cuDNN (legacy convolution API, NHWC tensors, KRSC = (F, K, K, C) filters),
// with the algorithm for each direction chosen once, when the model is built: by cuDNN's
// heuristics under a workspace limit that comes from the memory plan, and then, if the layer
// times its candidates (engine/layers/conv_autotune.h), by timing within the plan's workspace
// buffer. One buffer is shared by every convolution, sized to the largest need, not the sum: the
// heuristics' algorithms' largest need, or the limit itself when the layer will time.
//
// Limits: the legacy API pads symmetrically, so an even kernel with 'same' padding (asymmetric)
// is refused here and runs on the implicit-GEMM path (conv_implicit_gemm.h) instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <cuda_runtime.h>
#include <cudnn.h>

#include "kernels/cuda/conv_dims.h"

namespace knotnet::cuda {

enum class ConvMath : uint8_t {
  fp32,  // strict fp32: only CUDNN_FMA_MATH algorithms (no TF32 tensor cores)
  tf32,  // TF32 tensor cores allowed
};

// "fma", "tensor-op", "tensor-op-conv", "default".
const char* cudnn_math_name(cudnnMathType_t m);

// One cuDNN algorithm for one direction, as cudnnFind*Ex timed it (ms < 0: not timed, chosen
// by the heuristics).
struct CudnnAlgo {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t memory = 0;  // workspace at the planned batch
  float ms = -1.0f;
  bool deterministic = true;
};

class CudnnConv {
 public:
  // Plans for batch d.n (the largest batch the layer will see) with the algorithms cuDNN's
  // heuristics rank first. Throws naming the shape when cuDNN offers no algorithm for a direction
  // within workspace_limit bytes under `math`; supported() says beforehand whether the shape is
  // expressible at all.
  // prefer_deterministic: of the algorithms allowed, take the heuristics' first deterministic one
  // when there is one (reproducible runs), else their first (usually the fastest).
  CudnnConv(cudnnHandle_t handle, const ConvDims& d, ConvMath math, size_t workspace_limit,
            bool need_data_grad = true, bool prefer_deterministic = true);
  ~CudnnConv();
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  static bool supported(const ConvDims& d) { return d.symmetric(); }

  // The largest workspace the algorithms in use need at any batch up to the planned one (asked
  // of cuDNN for every size: a partial batch may need more than a full one), or the bias
  // gradient's partial sums, if larger.
  size_t workspace_bytes() const { return workspace_; }
  // "fwd algo 1 (fma, 0 B), bwd-filter algo ..." for the directions in use.
  std::string describe() const;

  // Times every algorithm cuDNN offers for one direction on these buffers, at the planned batch
  // (cudnnFind*Ex: the direction's output, y, dw or dx, is overwritten), and returns those that
  // ran within work_bytes under this convolution's math, fastest first.
  std::vector<CudnnAlgo> time_forward(const float* x, const float* w, float* y, void* work, size_t work_bytes,
                                      cudaStream_t stream);
  std::vector<CudnnAlgo> time_backward_filter(const float* x, const float* dy, float* dw, void* work,
                                              size_t work_bytes, cudaStream_t stream);
  std::vector<CudnnAlgo> time_backward_data(const float* w, const float* dy, float* dx, void* work,
                                            size_t work_bytes, cudaStream_t stream);
  // Runs these algorithms from now on; null: that direction does not run on cuDNN (calling it
  // is then refused). Returns workspace_bytes() for the new choice.
  size_t use(const CudnnAlgo* fwd, const CudnnAlgo* filter, const CudnnAlgo* data);

  // x: (n, H, W, C), w: (F, K, K, C), b: (F) -> y: (n, OH, OW, F), n <= the planned batch.
  void forward(const float* x, const float* w, const float* b, float* y, int64_t n, void* work, size_t work_bytes,
               cudaStream_t stream);
  // y (n, OH, OW, F) += b (F): forward's second pass (cudnnAddTensor), exposed for timing it.
  void add_bias(const float* b, float* y, int64_t n, cudaStream_t stream);
  // Overwrites dw and db (the bias gradient by our own deterministic column sums).
  void backward_filter(const float* x, const float* dy, float* dw, float* db, int64_t n, void* work,
                       size_t work_bytes, cudaStream_t stream);
  // Overwrites dx.
  void backward_data(const float* w, const float* dy, float* dx, int64_t n, void* work, size_t work_bytes,
                     cudaStream_t stream);
  // Both: overwrites dw, db and (unless null) dx.
  void backward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db, int64_t n,
                void* work, size_t work_bytes, cudaStream_t stream);

 private:
  enum Direction { kForward = 0, kFilter = 1, kData = 2 };

  void build(ConvMath math, size_t workspace_limit);
  void destroy() noexcept;
  void set_batch(int64_t n);
  size_t need(Direction dir) const;  // at the current batch
  // Checks that `dir` runs on cuDNN and its need at batch n fits in work_bytes.
  void require_workspace(Direction dir, int64_t n, size_t work_bytes);
  size_t recompute_workspace();
  void set_chosen_math();  // each direction in use: its algorithm's math on its descriptor
  void prepare_timing(Direction dir, cudaStream_t stream);

  cudnnHandle_t handle_;
  ConvDims dims_;
  ConvMath math_;
  bool need_data_grad_;
  bool prefer_deterministic_;
  int64_t cur_n_ = -1;
  cudnnTensorDescriptor_t x_desc_ = nullptr, y_desc_ = nullptr, bias_desc_ = nullptr;
  cudnnFilterDescriptor_t w_desc_ = nullptr;
  // One convolution descriptor per direction, each carrying its algorithm's math type.
  cudnnConvolutionDescriptor_t desc_[3] = {nullptr, nullptr, nullptr};
  CudnnAlgo algo_[3];
  bool in_use_[3] = {true, true, false};
  // Workspace needed at the last batch size each direction ran at (asked of cuDNN once per size).
  int64_t need_n_[3] = {-1, -1, -1};
  size_t need_[3] = {0, 0, 0};
  size_t workspace_ = 0;
};

}  // namespace knotnet::cuda
