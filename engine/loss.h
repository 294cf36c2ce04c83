// Softmax fused with categorical cross-entropy: the spec's final "softmax" line. Forward turns
// logits into probabilities (numerically stable: shifted by the row maximum); the loss and its
// gradient come from the probabilities and the labels in one pass.
//
// Labels are either class indices, i32 (N), or target distributions (one-hot or soft) in the
// logits' element type, (N, K). The loss is the mean over the batch:
//   L = -1/N * sum_n sum_k t[n,k] * log p[n,k],   dL/dlogits = (p - t) / N.
//
// On the GPU, forward() runs the softmax kernel on the compute stream, and loss_async() replaces
// loss(): it enqueues the sums into a small device buffer the model planned (the host reads it
// back once, at the end of the step: the step's only wait) and takes (N, K) targets only (the
// model turns class indices into one-hot rows on the device when it loads a batch).
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace knotnet {

struct LossResult {
  double loss = 0;      // mean cross-entropy over the batch
  int64_t correct = 0;  // samples whose arg-max probability is the label's arg-max
  int64_t count = 0;    // samples in the batch
  double accuracy() const { return count ? static_cast<double>(correct) / static_cast<double>(count) : 0.0; }
};

class SoftmaxCrossEntropy {
 public:
  explicit SoftmaxCrossEntropy(int64_t classes) : classes_(classes) {}
  int64_t classes() const { return classes_; }
  // logits, probs: (N, K).
  void forward(const Tensor& logits, Tensor probs) const;
  // Loss and correct count over the batch; when dlogits is not empty it receives dL/dlogits.
  // CPU tensors only.
  LossResult loss(const Tensor& probs, const Tensor& labels, const Tensor& dlogits) const;
  // CUDA tensors: probs, targets: (N, K) f32; dlogits: (N, K) or empty; sums: (2) f64 on the
  // device, overwritten with the loss sum and the correct count. Enqueued; nothing waits.
  void loss_async(const Tensor& probs, const Tensor& targets, const Tensor& dlogits, const Tensor& sums) const;
  // The result of loss_async once its sums are on the host.
  static LossResult result_from_sums(const double sums[2], int64_t n);

 private:
  int64_t classes_;
};

}  // namespace knotnet
