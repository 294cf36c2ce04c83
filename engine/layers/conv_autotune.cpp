#include "engine/layers/conv_autotune.h"

#ifdef KNOTNET_HAVE_CUDA

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

#include "engine/cuda_check.h"
#include "engine/error.h"
#include "kernels/cuda/conv_direct.h"
#include "kernels/cuda/conv_implicit_gemm.h"
#include "kernels/cuda/reduce.h"

namespace knotnet {

namespace {

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, bool, bool, bool,
                       size_t>;

Key key_of(const cuda::ConvDims& d, cuda::ConvMath math, bool prefer_deterministic, bool data, bool cudnn,
           size_t work_bytes) {
  return {d.n, d.h, d.w, d.c, d.k, d.f, d.pad_top, d.pad_left, static_cast<int>(math), prefer_deterministic, data,
          cudnn, work_bytes};
}

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}

std::map<Key, ConvRouting>& cache() {
  static std::map<Key, ConvRouting> c;
  return c;
}

// Two events, destroyed however the timing ends.
struct EventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  EventPair() {
    KN_CUDA_CHECK(cudaEventCreate(&start));
    const cudaError_t e = cudaEventCreate(&stop);
    if (e != cudaSuccess) {
      cudaEventDestroy(start);
      KN_CUDA_CHECK(e);
    }
  }
  ~EventPair() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
};

// The fastest of two timed runs after one untimed (which pays for first-use costs).
template <class Run>
float time_ms(Run run, cudaStream_t stream) {
  EventPair ev;
  run();
  float best = std::numeric_limits<float>::max();
  for (int r = 0; r < 2; ++r) {
    KN_CUDA_CHECK(cudaEventRecord(ev.start, stream));
    run();
    KN_CUDA_CHECK(cudaEventRecord(ev.stop, stream));
    KN_CUDA_CHECK(cudaEventSynchronize(ev.stop));
    float ms = 0.0f;
    KN_CUDA_CHECK(cudaEventElapsedTime(&ms, ev.start, ev.stop));
    best = std::min(best, ms);
  }
  return best;
}

// cuDNN's timed algorithms for one direction as candidates, each with `extra_ms` added; a cuDNN
// refusal leaves the direction to the implicit GEMM (it is reported).
template <class Time>
void add_cudnn(std::vector<ConvCandidate>& out, std::vector<cuda::CudnnAlgo>& algos, float extra_ms, Time time,
               std::string& note) {
  try {
    algos = time();
  } catch (const Error& e) {
    note = std::string("; cuDNN could not be timed: ") + e.what();
    algos.clear();
  }
  for (const cuda::CudnnAlgo& a : algos) {
    ConvCandidate c;
    c.cudnn = true;
    c.algo = a.algo;
    c.ms = a.ms + extra_ms;
    c.deterministic = a.deterministic;
    c.label = "cuDNN algo " + std::to_string(a.algo) + " (" + cuda::cudnn_math_name(a.math) + ")";
    out.push_back(c);
  }
}

constexpr cuda::gemm::TileKind kTiles[] = {cuda::gemm::TileKind::small, cuda::gemm::TileKind::tall,
                                           cuda::gemm::TileKind::wide, cuda::gemm::TileKind::narrow};

std::string implicit_label(cuda::gemm::TileKind tile) {
  return tile == cuda::gemm::TileKind::direct ? std::string("direct convolution")
                                              : std::string("implicit GEMM ") + cuda::gemm::tile_name(tile);
}

// The implicit GEMM in one tile (or the direct convolution); the tile's number rides in `algo`.
ConvCandidate implicit_candidate(cuda::gemm::TileKind tile, float ms) {
  ConvCandidate c;
  c.algo = static_cast<int>(tile);
  c.ms = ms;
  c.label = implicit_label(tile);
  return c;
}

ConvRouting measure(cuda::CudnnConv* cudnn, const cuda::ConvDims& d, bool prefer_deterministic,
                    const ConvTuneBuffers& b, cudaStream_t stream) {
  ConvRouting r;
  const int64_t p = d.n * d.oh * d.ow;
  const bool data = b.dx != nullptr;
  void* const work_bwd = b.work_backward ? b.work_backward : b.work;
  for (int dir = 0; dir < 3; ++dir) {
    if (dir == static_cast<int>(ConvDirection::data) && !data) continue;
    // The direction on the implicit GEMM in a tile; cuDNN's own pass of the bias, if any (timed
    // apart and added to its algorithms' times); and cuDNN's timing of its algorithms.
    std::function<void(cuda::gemm::TileKind)> run_implicit;
    std::function<void()> cudnn_bias;
    std::function<std::vector<cuda::CudnnAlgo>()> time_cudnn;
    switch (static_cast<ConvDirection>(dir)) {
      case ConvDirection::forward:
        run_implicit = [&](cuda::gemm::TileKind t) { cuda::conv_igemm_forward(b.x, b.w, b.b, b.y, d, stream, t); };
        cudnn_bias = [&] { cudnn->add_bias(b.b, b.y, d.n, stream); };
        time_cudnn = [&] { return cudnn->time_forward(b.x, b.w, b.y, b.work, b.work_bytes, stream); };
        break;
      case ConvDirection::filter:
        run_implicit = [&](cuda::gemm::TileKind t) {
          cuda::conv_igemm_backward_filter(b.x, b.dy, b.dw, b.db, d, work_bwd, b.work_bytes, stream, t);
        };
        cudnn_bias = [&] { cuda::column_sums(b.dy, b.db, p, d.f, static_cast<double*>(work_bwd), stream); };
        time_cudnn = [&] { return cudnn->time_backward_filter(b.x, b.dy, b.dw, work_bwd, b.work_bytes, stream); };
        break;
      case ConvDirection::data:
        run_implicit = [&](cuda::gemm::TileKind t) { cuda::conv_igemm_backward_data(b.dy, b.w, b.dx, d, stream, t); };
        time_cudnn = [&] { return cudnn->time_backward_data(b.w, b.dy, b.dx, work_bwd, b.work_bytes, stream); };
        break;
    }
    std::vector<ConvCandidate> implicit;
    for (auto tile : kTiles)
      implicit.push_back(implicit_candidate(tile, time_ms([&] { run_implicit(tile); }, stream)));
    // The direct convolution, for a layer with few input channels (conv_direct.h): it competes
    // as one more of the implicit GEMM's tiles in the forward (the same result) and the weight
    // gradient (its own order of the sums, as each tile's split-K has), where the workspace holds
    // at least one block of the weight gradient's partials (ConvLayer plans that much).
    const bool direct_fits = static_cast<ConvDirection>(dir) == ConvDirection::forward ||
                             (static_cast<ConvDirection>(dir) == ConvDirection::filter &&
                              b.work_bytes >= cuda::conv_direct_filter_min_workspace_bytes(d));
    if (direct_fits && cuda::conv_direct_supported(d))
      implicit.push_back(implicit_candidate(cuda::gemm::TileKind::direct,
                                            time_ms([&] { run_implicit(cuda::gemm::TileKind::direct); }, stream)));
    std::vector<ConvCandidate> candidates;
    std::vector<cuda::CudnnAlgo> algos;
    std::string note;
    if (cudnn) add_cudnn(candidates, algos, cudnn_bias ? time_ms(cudnn_bias, stream) : 0.0f, time_cudnn, note);
    candidates.insert(candidates.end(), implicit.begin(), implicit.end());  // last: a tie goes to cuDNN
    const int chosen = fastest_candidate(candidates, prefer_deterministic);
    KN_CHECK(chosen >= 0, "conv timing: nothing could be timed for the ",
             conv_direction_name(static_cast<ConvDirection>(dir)), " direction");
    const ConvCandidate& c = candidates[static_cast<size_t>(chosen)];
    r.cudnn[dir] = c.cudnn;
    if (c.cudnn) r.algo[dir] = algos[static_cast<size_t>(chosen)];
    // The implicit GEMM's fastest tile, kept even when cuDNN wins: it is what runs should the
    // cuDNN winners fall back (tune_conv) for want of workspace at a smaller batch.
    const int best_implicit = fastest_candidate(implicit, false);
    if (best_implicit >= 0)
      r.tile[dir] = static_cast<cuda::gemm::TileKind>(implicit[static_cast<size_t>(best_implicit)].algo);
    r.report[dir] = describe_choice(candidates, chosen) + note;
  }
  return r;
}

}  // namespace

ConvRouting tune_conv(cuda::CudnnConv* cudnn, const cuda::ConvDims& d, cuda::ConvMath math, bool prefer_deterministic,
                      const ConvTuneBuffers& b, cudaStream_t stream) {
  const Key key = key_of(d, math, prefer_deterministic, b.dx != nullptr, cudnn != nullptr, b.work_bytes);
  // Held while timing too: two threads building twin models at once would otherwise each time
  // and might choose differently.
  std::lock_guard<std::mutex> lock(cache_mutex());
  ConvRouting r;
  auto it = cache().find(key);
  if (it != cache().end()) {
    r = it->second;
    r.from_cache = true;
  } else {
    r = measure(cudnn, d, prefer_deterministic, b, stream);
  }
  if (cudnn) {
    const cuda::CudnnAlgo* chosen[3];
    for (int dir = 0; dir < 3; ++dir) chosen[dir] = r.cudnn[dir] ? &r.algo[dir] : nullptr;
    if (cudnn->use(chosen[0], chosen[1], chosen[2]) > b.work_bytes) {
      for (int dir = 0; dir < 3; ++dir) {
        if (!r.cudnn[dir]) continue;
        r.cudnn[dir] = false;
        r.report[dir] = implicit_label(r.tile[dir]) +
                        " (the timed winner, cuDNN algo " + std::to_string(r.algo[dir].algo) +
                        ", needs more workspace at a smaller batch than the plan holds)";
      }
      cudnn->use(nullptr, nullptr, nullptr);
    }
  }
  if (!r.from_cache) cache().emplace(key, r);
  return r;
}

}  // namespace knotnet

#endif  // KNOTNET_HAVE_CUDA
