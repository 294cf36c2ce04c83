// conv FILTERS K [valid|same] [cudnn|implicit]: k x k convolution, stride 1, with bias (engine
// side of kernels/cpu/conv.h). Parameters: kernel (F, K, K, C) in glorot_uniform with Keras's
// fans (fan_in = K*K*C, fan_out = K*K*F), bias (F) zeros. CPU scratch: one im2col column
// buffer for forward and one for backward, each (OH*OW, K*K*C) whatever the batch, and a (F)
// double accumulator for the bias gradient.
//
// On the GPU the optional 4th word narrows the choice of convolution: 'cudnn' (the default)
// allows cuDNN and the hand-written implicit GEMM (kernels/cuda/conv_implicit_gemm.h), 'implicit'
// allows only the latter. With ModelOptions::conv_search measured (the default), tune_device
// times what is allowed (the implicit GEMM in each of its tiles) on the plan's buffers and runs
// the fastest per direction (conv_autotune.h); with
// heuristic, cuDNN's heuristics choose its algorithms in prepare_device, under the model's
// workspace limit, and cuDNN runs every direction. Timing considers any algorithm that fits the
// layer's workspace (the limit, or its input, output and filter plus 1 MiB where that is more and
// ModelOptions::cudnn_workspace_io_sized allows). An even
// kernel with 'same' padding
// always runs on the implicit GEMM (cuDNN's API cannot pad asymmetrically). The CPU ignores the
// word.
// GPU scratch: none of its own; cuDNN's workspace, split-K partials and the bias gradient's
// partial sums live in the layer's workspaces (one for its forward step, one for its backward).
#pragma once

#include <memory>
#include <string>

#include "engine/conv_choice.h"
#include "engine/layer.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/tf32.h"
#include "kernels/cuda/conv_dims.h"
#include "kernels/cuda/gemm_tile.h"

namespace knotnet {

namespace cuda {
class CudnnConv;
}

class ConvLayer final : public Layer {
 public:
  // in: (H, W, C). same: 'same' padding, else 'valid'. implicit: the hand-written GPU convolution.
  ConvLayer(std::string name, Shape in, int64_t filters, int64_t kernel, bool same, bool implicit = false);
  ~ConvLayer() override;
  const char* kind() const override { return "conv"; }
  std::string describe() const override;
  std::vector<ParamInfo> param_infos() const override;
  std::vector<ScratchInfo> scratch_infos(int64_t batch, DType dtype) const override;
  std::vector<ScratchInfo> device_scratch_infos(int64_t batch, DType dtype, Device device) const override;
  void prepare_device(const DevicePlan& plan) override;
  void tune_device(const DeviceTuning& t) override;
  size_t device_workspace_bytes(int64_t batch, Device device) const override;
  size_t device_workspace_reserve(int64_t batch, Device device) const override;
  bool needs_input_for_backward() const override { return true; }

  int64_t filters() const { return geom_.f; }
  int64_t kernel() const { return geom_.k; }
  bool same() const { return same_; }
  bool implicit() const { return implicit_; }
  // After prepare_device (and tune_device): "cuDNN: fwd algo ...", "implicit GEMM", or, once
  // timed, "fwd: implicit GEMM 1.234 ms (over cuDNN algo 1 (fma) 3.456 ms); bwd-filter: ...".
  std::string device_algorithms() const;
  // CPU, f32 only: cut x, the kernel and dy to TF32 before the products (ModelOptions::cpu_tf32),
  // to judge the GPU's TF32 convolutions against what an exact TF32 computation gives.
  void emulate_tf32(cpu::Tf32Rounding r) { tf32_emulation_ = r; }

 protected:
  void forward_impl(const Tensor& x, const Tensor& y, const StepContext& ctx) override;
  void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx,
                     const StepContext& ctx) override;

 private:
  struct CudnnDeleter {
    void operator()(cuda::CudnnConv* p) const;
  };

  cpu::ConvGeometry geom_;
  bool same_;
  bool implicit_;
  // GPU state, set by prepare_device.
  cuda::ConvDims dims_;                              // at the planned batch
  bool cudnn_allowed_ = false;                       // cuDNN may run some direction
  bool run_cudnn_[3] = {false, false, false};        // per ConvDirection: cuDNN, else implicit GEMM
  bool measure_ = false;                             // tune_device times the candidates
  // Per direction: the implicit GEMM's tile where it runs (chosen by timing; automatic otherwise).
  cuda::gemm::TileKind tile_[3] = {cuda::gemm::TileKind::automatic, cuda::gemm::TileKind::automatic,
                                   cuda::gemm::TileKind::automatic};
  cuda::gemm::TileKind tile(ConvDirection d) const { return tile_[static_cast<int>(d)]; }
  bool tf32_ = false, prefer_deterministic_ = true;
  cpu::Tf32Rounding tf32_emulation_ = cpu::Tf32Rounding::none;  // CPU only
  std::string timed_[3];                             // tune_device's report per direction
  std::unique_ptr<cuda::CudnnConv, CudnnDeleter> cudnn_;  // null: implicit GEMM, or plan only
  size_t planned_workspace_ = 0;
  size_t reserved_workspace_ = 0;  // a plan-only model's planned_workspace_ (>= it)
};

}  // namespace knotnet
