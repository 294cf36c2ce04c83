// A shared-memory race, planted on purpose, for scripts/gpu-check: racecheck runs on this with the
// same kernel-name filter as on the test binaries and must report the hazard. Otherwise a filter
// that matched none of knotnet's kernels would pass as "clean". Not a test: ctest never runs it.
#include <cuda_runtime.h>

#include <cstdio>

namespace knotnet {
namespace {

__global__ void racecheck_canary_kernel(float* out) {  // out: (blockDim.x)
  volatile __shared__ float slot[32];
  // Every warp writes the same 32 slots, and each thread then reads its neighbour's slot, with no
  // __syncthreads() between: write-after-write and read-after-write hazards across warps.
  slot[threadIdx.x % 32] = static_cast<float>(threadIdx.x);
  out[threadIdx.x] = slot[(threadIdx.x + 1) % 32];
}

}  // namespace
}  // namespace knotnet

int main() {
  float* out = nullptr;
  if (cudaMalloc(&out, 256 * sizeof(float)) != cudaSuccess) {
    std::fprintf(stderr, "racecheck_canary: cudaMalloc failed\n");
    return 2;
  }
  knotnet::racecheck_canary_kernel<<<1, 256>>>(out);
  const cudaError_t e = cudaDeviceSynchronize();
  cudaFree(out);
  if (e != cudaSuccess) {
    std::fprintf(stderr, "racecheck_canary: %s\n", cudaGetErrorString(e));
    return 2;
  }
  return 0;
}
