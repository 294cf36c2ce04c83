// Inverted dropout on the GPU: element k is kept iff random_uniform(seed, stream, k) >= rate,
// compared in double, and kept values are multiplied by the float 1/(1-rate) computed on the
// host. Non-obvious choice: the keep test and the scale are the CPU reference's expressions
// verbatim (engine/rng.h is host/device code), so masks and outputs are bit-identical on both
// backends; the test checks that exactly.
#include "kernels/cuda/dropout.h"

#include "engine/cuda_check.h"
#include "engine/rng.h"
#include "kernels/cuda/launch.h"

namespace knotnet::cuda {

namespace {

__global__ void dropout_kernel(const float* x,  // (count)
                               float* y,        // (count)
                               int64_t count, double rate, float scale, uint64_t seed, uint64_t stream_id) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; k < count; k += stride) {
    const bool keep = static_cast<double>(random_uniform(seed, stream_id, static_cast<uint64_t>(k))) >= rate;
    y[k] = keep ? x[k] * scale : 0.0f;
  }
}

void launch(const float* x, float* y, int64_t count, double rate, uint64_t seed, uint64_t stream_id,
            cudaStream_t stream) {
  if (count <= 0) return;
  const float scale = static_cast<float>(1.0 / (1.0 - rate));
  dropout_kernel<<<grid_for(count), kBlock, 0, stream>>>(x, y, count, rate, scale, seed, stream_id);
  KN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void dropout_forward(const float* x, float* y, int64_t count, double rate, uint64_t seed, uint64_t stream_id,
                     cudaStream_t stream) {
  launch(x, y, count, rate, seed, stream_id, stream);
}

void dropout_backward(const float* dy, float* dx, int64_t count, double rate, uint64_t seed, uint64_t stream_id,
                      cudaStream_t stream) {
  launch(dy, dx, count, rate, seed, stream_id, stream);
}

}  // namespace knotnet::cuda
