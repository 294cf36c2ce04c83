// What the CUDA benchmark programs share: an exception skips its benchmark with the message
// (Google Benchmark catches nothing: one CUDA or cuDNN error would end the program and lose every
// other benchmark's figures), and a main that says why it measures nothing without a GPU.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdio>
#include <exception>
#include <utility>

#include "engine/cuda_context.h"

namespace knotnet::bench {

// Runs body(); a throw marks the benchmark skipped, with the exception's message.
template <typename Body>
void skip_on_error(benchmark::State& state, Body&& body) {
  try {
    std::forward<Body>(body)();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// The whole main of CUDA benchmark program `name`.
inline int run_cuda_benchmarks(const char* name, int argc, char** argv) {
#ifdef KNOTNET_HAVE_CUDA
  benchmark::Initialize(&argc, argv);
  if (!cuda_device_present()) {
    std::printf("%s: no CUDA device visible; nothing to measure\n", name);
    return 0;
  }
  std::printf("device: %s\n", CudaContext::get().device_name().c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
#else
  (void)argc;
  (void)argv;
  std::printf("%s: this build has no CUDA backend (configure with -DKNOTNET_CUDA=ON)\n", name);
#endif
  return 0;
}

}  // namespace knotnet::bench
