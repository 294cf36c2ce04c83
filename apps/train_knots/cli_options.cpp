#include "apps/train_knots/cli_options.h"

#include <sstream>
#include <vector>

#ifdef KNOTNET_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace knotnet::app {

bool cuda_available() {
#ifdef KNOTNET_HAVE_CUDA
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
#else
  return false;
#endif
}

Device resolve_device(const std::string& flag) {
  if (flag == "auto") return cuda_available() ? Device::cuda : Device::cpu;
  if (flag == "cuda") {
#ifndef KNOTNET_HAVE_CUDA
    KN_THROW("--device cuda: this build of knotnet has no CUDA backend (configure with nvcc present)");
#else
    KN_CHECK(cuda_available(), "--device cuda: no CUDA device is visible");
#endif
    return Device::cuda;
  }
  if (flag == "cpu") return Device::cpu;
  KN_THROW("--device '", flag, "': expected auto, cpu or cuda");
}

Shape parse_image_shape(const std::string& flag) {
  std::vector<int64_t> dims;
  std::stringstream ss(flag);
  for (std::string part; std::getline(ss, part, ',');) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    KN_CHECK(used == part.size() && !part.empty() && v > 0, "--image-shape '", flag,
             "': expected positive integers H,W,C (e.g. 128,128,3)");
    dims.push_back(v);
  }
  if (dims.size() == 3) return Shape{dims[0], dims[1], dims[2]};
  if (dims.size() == 1) return Shape{dims[0]};
  KN_THROW("--image-shape '", flag, "': expected H,W,C (e.g. 128,128,3)");
}

}  // namespace knotnet::app
