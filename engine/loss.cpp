#include "engine/loss.h"

#include "kernels/cpu/softmax_xent.h"

namespace knotnet {

void SoftmaxCrossEntropy::forward(const Tensor& logits, Tensor probs) const {
  KN_CHECK(logits.shape.rank() == 2 && logits.shape[1] == classes_, "softmax: logits should be (N, ", classes_,
           "), got ", logits.shape.str());
  KN_CHECK(probs.shape == logits.shape && probs.dtype == logits.dtype && probs.device == logits.device,
           "softmax: probabilities ", probs.describe(), " do not match logits ", logits.describe());
  if (logits.device == Device::cuda)
    KN_THROW("softmax: the CUDA backend is not in this build yet (logits are on ", device_name(logits.device), ")");
  dispatch_float(logits.dtype, [&](auto zero) {
    using T = decltype(zero);
    cpu::softmax_forward(logits.as<T>(), probs.as<T>(), logits.shape[0], classes_);
  });
}

LossResult SoftmaxCrossEntropy::loss(const Tensor& probs, const Tensor& labels, const Tensor& dlogits) const {
  KN_CHECK(probs.shape.rank() == 2 && probs.shape[1] == classes_, "cross-entropy: probabilities should be (N, ",
           classes_, "), got ", probs.shape.str());
  const int64_t n = probs.shape[0];
  if (!dlogits.empty())
    KN_CHECK(dlogits.shape == probs.shape && dlogits.dtype == probs.dtype && dlogits.device == probs.device,
             "cross-entropy: the logits' gradient ", dlogits.describe(), " does not match the probabilities ",
             probs.describe());
  if (probs.device == Device::cuda || labels.device == Device::cuda)
    KN_THROW("cross-entropy: the CUDA backend is not in this build yet");
  LossResult r;
  r.count = n;
  dispatch_float(probs.dtype, [&](auto zero) {
    using T = decltype(zero);
    T* d = dlogits.empty() ? nullptr : dlogits.as<T>();
    cpu::XentSums sums;
    if (labels.dtype == DType::i32) {
      KN_CHECK(labels.shape == Shape{n}, "cross-entropy: class-index labels should be (", n, "), got ",
               labels.shape.str());
      const int32_t* idx = labels.as<int32_t>();
      for (int64_t i = 0; i < n; ++i)
        KN_CHECK(idx[i] >= 0 && idx[i] < classes_, "cross-entropy: label ", idx[i], " of sample ", i,
                 " is outside the classes [0, ", classes_, ")");
      sums = cpu::softmax_xent_indices(probs.as<T>(), idx, d, n, classes_);
    } else {
      KN_CHECK(labels.dtype == probs.dtype && labels.shape == probs.shape, "cross-entropy: labels should be i32 (", n,
               ") class indices or ", dtype_name(probs.dtype), " (", n, ", ", classes_, ") targets, got ",
               labels.describe());
      sums = cpu::softmax_xent_targets(probs.as<T>(), labels.as<T>(), d, n, classes_);
    }
    r.loss = n > 0 ? sums.loss_sum / static_cast<double>(n) : 0.0;
    r.correct = sums.correct;
  });
  return r;
}

}  // namespace knotnet
