// Check macros for CUDA runtime and cuDNN calls. Every call is wrapped; a failure throws
// knotnet::Error with the call's text, the library's message, file and line.
// KN_CUDA_CHECK_LAUNCH() follows every kernel launch.
#pragma once

#ifdef KNOTNET_HAVE_CUDA
#include <cuda_runtime.h>
#include <cudnn.h>

#include "engine/error.h"

#define KN_CUDA_CHECK(call)                                                            \
  do {                                                                                 \
    cudaError_t kn_err_ = (call);                                                      \
    if (kn_err_ != cudaSuccess)                                                        \
      KN_THROW("CUDA error in ", #call, ": ", cudaGetErrorName(kn_err_), " (",         \
               cudaGetErrorString(kn_err_), ")");                                      \
  } while (0)

#define KN_CUDA_CHECK_LAUNCH() KN_CUDA_CHECK(cudaGetLastError())

#define KN_CUDNN_CHECK(call)                                                           \
  do {                                                                                 \
    cudnnStatus_t kn_st_ = (call);                                                     \
    if (kn_st_ != CUDNN_STATUS_SUCCESS)                                                \
      KN_THROW("cuDNN error in ", #call, ": ", cudnnGetErrorString(kn_st_));           \
  } while (0)
#endif
