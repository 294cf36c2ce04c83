// Softmax fused with categorical cross-entropy on the CPU, rows of K classes.
//
// Softmax is computed stably: p = exp(z - max z) / sum exp(z - max z), so logits of any size
// (1e4, say) neither overflow nor lose the row's differences. The loss is the batch mean of
//   -sum_k t_k * log(max(p_k, tiny))
// where tiny is the smallest normal number of T (about 1.2e-38 for float, 2.2e-308 for double):
// a probability that underflowed to 0 would give log 0 = -inf, so the log is clamped there and
// one sample's loss is at most about 87 (float) or 708 (double). The gradient is the exact
// dL/dz = (p - t) / N of the unclamped loss (the clamp only guards the reported value); that
// form assumes each target row sums to 1, as one-hot and probability targets do.
// Sums run in double. "Correct" means the row's arg-max probability (first maximum on ties)
// equals the label index, or the arg-max of the target row.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace knotnet::cpu {

struct XentSums {
  double loss_sum = 0;  // sum over the batch of each sample's cross-entropy
  int64_t correct = 0;
};

namespace detail {
template <typename T>
int64_t argmax_row(const T* row, int64_t k) {
  int64_t best = 0;
  for (int64_t j = 1; j < k; ++j)
    if (row[j] > row[best]) best = j;
  return best;
}
template <typename T>
double clamped_log(T p) {
  return std::log(std::max(static_cast<double>(p), static_cast<double>(std::numeric_limits<T>::min())));
}
}  // namespace detail

// logits: (N, K) -> probs: (N, K).
template <typename T>
void softmax_forward(const T* logits, T* probs, int64_t n, int64_t k) {
  for (int64_t i = 0; i < n; ++i) {
    const T* z = logits + i * k;
    T* p = probs + i * k;
    T zmax = z[0];
    for (int64_t j = 1; j < k; ++j) zmax = std::max(zmax, z[j]);
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) {
      const double e = std::exp(static_cast<double>(z[j]) - static_cast<double>(zmax));
      p[j] = static_cast<T>(e);
      sum += e;
    }
    const double inv = 1.0 / sum;
    for (int64_t j = 0; j < k; ++j) p[j] = static_cast<T>(static_cast<double>(p[j]) * inv);
  }
}

// probs: (N, K), labels: (N) indices, each already checked to lie in [0, K).
// dlogits: (N, K) or null; receives (p - onehot) / N.
template <typename T>
XentSums softmax_xent_indices(const T* probs, const int32_t* labels, T* dlogits, int64_t n, int64_t k) {
  XentSums r;
  const double inv_n = n > 0 ? 1.0 / static_cast<double>(n) : 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const T* p = probs + i * k;
    const int64_t label = labels[i];
    r.loss_sum -= detail::clamped_log(p[label]);
    r.correct += detail::argmax_row(p, k) == label;
    if (dlogits) {
      T* d = dlogits + i * k;
      for (int64_t j = 0; j < k; ++j)
        d[j] = static_cast<T>((static_cast<double>(p[j]) - (j == label ? 1.0 : 0.0)) * inv_n);
    }
  }
  return r;
}

// probs, targets: (N, K) (one-hot or soft targets). dlogits: (N, K) or null; receives (p - t) / N.
template <typename T>
XentSums softmax_xent_targets(const T* probs, const T* targets, T* dlogits, int64_t n, int64_t k) {
  XentSums r;
  const double inv_n = n > 0 ? 1.0 / static_cast<double>(n) : 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const T* p = probs + i * k;
    const T* t = targets + i * k;
    for (int64_t j = 0; j < k; ++j)
      if (t[j] != T(0)) r.loss_sum -= static_cast<double>(t[j]) * detail::clamped_log(p[j]);
    r.correct += detail::argmax_row(p, k) == detail::argmax_row(t, k);
    if (dlogits) {
      T* d = dlogits + i * k;
      for (int64_t j = 0; j < k; ++j)
        d[j] = static_cast<T>((static_cast<double>(p[j]) - static_cast<double>(t[j])) * inv_n);
    }
  }
  return r;
}

}  // namespace knotnet::cpu
