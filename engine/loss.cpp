#include "engine/loss.h"

#include <cmath>

#include "kernels/cpu/softmax_xent.h"

#ifdef KNOTNET_HAVE_CUDA
#include "engine/cuda_context.h"
#include "kernels/cuda/softmax_xent.h"
#endif

namespace knotnet {

void SoftmaxCrossEntropy::forward(const Tensor& logits, Tensor probs) const {
  KN_CHECK(logits.shape.rank() == 2 && logits.shape[1] == classes_, "softmax: logits should be (N, ", classes_,
           "), got ", logits.shape.str());
  KN_CHECK(probs.shape == logits.shape && probs.dtype == logits.dtype && probs.device == logits.device,
           "softmax: probabilities ", probs.describe(), " do not match logits ", logits.describe());
  if (logits.device == Device::cuda) {
#ifdef KNOTNET_HAVE_CUDA
    // logits, probs: (N, K)
    cuda::softmax_forward(logits.as<float>(), probs.as<float>(), logits.shape[0], classes_,
                          CudaContext::get().compute());
    return;
#else
    KN_THROW("softmax: the logits are on the GPU, but this build of knotnet has no CUDA backend");
#endif
  }
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
    KN_THROW("cross-entropy: loss() reads its sums on the host; device tensors go through loss_async()");
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

void SoftmaxCrossEntropy::loss_async(const Tensor& probs, const Tensor& targets, const Tensor& dlogits,
                                     const Tensor& sums) const {
  KN_CHECK(probs.shape.rank() == 2 && probs.shape[1] == classes_, "cross-entropy: probabilities should be (N, ",
           classes_, "), got ", probs.shape.str());
  KN_CHECK(probs.device == Device::cuda && targets.device == Device::cuda && sums.device == Device::cuda,
           "cross-entropy: loss_async takes device tensors; use loss() on the CPU");
  KN_CHECK(targets.shape == probs.shape && targets.dtype == probs.dtype, "cross-entropy: targets should be ",
           probs.describe(), ", got ", targets.describe());
  KN_CHECK(sums.dtype == DType::f64 && sums.numel() == 2, "cross-entropy: sums should be 2 f64, got ",
           sums.describe());
  if (!dlogits.empty())
    KN_CHECK(dlogits.shape == probs.shape && dlogits.dtype == probs.dtype && dlogits.device == probs.device,
             "cross-entropy: the logits' gradient ", dlogits.describe(), " does not match the probabilities ",
             probs.describe());
#ifdef KNOTNET_HAVE_CUDA
  // probs, targets, dlogits: (N, K) -> sums: [loss sum, correct count]
  cuda::xent_from_probs(probs.as<float>(), targets.as<float>(), dlogits.empty() ? nullptr : dlogits.as<float>(),
                        probs.shape[0], classes_, sums.as<double>(), CudaContext::get().compute());
#else
  KN_THROW("cross-entropy: this build of knotnet has no CUDA backend");
#endif
}

LossResult SoftmaxCrossEntropy::result_from_sums(const double sums[2], int64_t n) {
  LossResult r;
  r.count = n;
  r.loss = n > 0 ? sums[0] / static_cast<double>(n) : 0.0;
  r.correct = static_cast<int64_t>(std::llround(sums[1]));
  return r;
}

}  // namespace knotnet
