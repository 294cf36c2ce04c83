// One training step of two models of the same spec, compared: a reference (the CPU in strict
// fp32) and another (the GPU, or the CPU with TF32 emulated). Used by tests/test_cuda_model.cpp
// (GPU against CPU) and tests/test_tf32_emulation.cpp (what exact TF32 arithmetic does to the
// same step, which sets the TF32 bounds). Header-only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "engine/device_copy.h"
#include "engine/layers/batchnorm.h"
#include "engine/model.h"
#include "io/toy_data.h"
#include "tests/support/cuda_testing.h"

namespace knotnet::test {

inline std::vector<float> host(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  copy_to_host(t, v.data());
  return v;
}

// n toy images of size x size x 3 (io/toy_data.h), from image `first` on, with their labels.
struct ToyImages {
  ToyBatch b;
  Tensor images, labels;  // views of b's vectors
  ToyImages(int64_t first, int64_t n, int64_t size) : b(make_toy_batch(first, n, size, size, 5)) {
    images = Tensor(b.images.data(), Shape{n, size, size, 3}, DType::u8);
    labels = Tensor(b.labels.data(), Shape{n}, DType::i32);
  }
  ToyImages(const ToyImages&) = delete;  // a copy's views would point into the original
  ToyImages& operator=(const ToyImages&) = delete;
};

// Relative bounds: loss (scaled by max(1, |loss|)), probabilities and BN running statistics
// (worst element, test::expect_close), gradients and parameters after the update (relative L2).
struct StepBounds {
  double loss = 1e-4, probs = 1e-4, grads = 2e-3, stats = 1e-4, params = 1e-5;
};

// The bounds for a step with TF32 convolutions against the strict-fp32 reference: a little over
// twice the worst that exact TF32 arithmetic gives on the step compared (TF32 emulated on the CPU, operands
// rounded to nearest or truncated; tests/test_tf32_emulation.cpp holds the emulation under half of
// each). Its worst, 2026-11-27: loss 0.0088, probabilities 0.034, gradients 0.127 (relative L2),
// statistics 0.0015, parameters after the update 0.00046; an H200's cuDNN gave 0.12 and 0.029
// where the earlier bounds (5e-2, 1e-2) failed it. The gradients stray most: a product cut to a
// 10-bit mantissa moves values by ~1e-3, which flips ReLUs and max-pool choices near a tie, and
// each flip sends a gradient elsewhere; at a batch of 3 or 4 images few terms average that out.
// A wrong index or buffer gives errors of order 1. The emulation is a plain TF32 GEMM: an
// algorithm that also rounds transformed operands (cuDNN's Winograd or FFT ones, which timing may
// pick) can stray further, and would need its own look before these bounds are widened.
inline StepBounds tf32_step_bounds() { return StepBounds{2.5e-2, 8e-2, 0.3, 1e-2, 1.5e-3}; }

// The options of the step compared: batch 4, seed 11, SGD at lr 0.01. The GPU test and the TF32
// emulation take them from here, so that the emulation's figures are those of the GPU test's step.
inline ModelOptions step_options(Device device) {
  ModelOptions opt;
  opt.batch = 4;
  opt.device = device;
  opt.seed = 11;
  opt.optimizer.name = "sgd";
  opt.optimizer.lr = 0.01;
  return opt;
}

inline void expect_same_start(const Model& ref, const Model& other) {
  expect_equal(host(other.flat_parameters()), host(ref.flat_parameters()), "initial parameters");
  expect_equal(host(other.flat_statistics()), host(ref.flat_statistics()), "initial statistics");
}

// Layers whose bias feeds batch-norm directly: batch-norm subtracts the batch mean, so the bias
// has no effect and its gradient is zero in exact arithmetic. Read from a CPU model, whose layers
// are never fused.
inline std::set<std::string> layers_with_inert_bias(const Model& cpu) {
  std::set<std::string> inert;
  const auto& layers = cpu.layers();
  for (size_t i = 0; i + 1 < layers.size(); ++i)
    if (dynamic_cast<const BatchNormLayer*>(layers[i + 1].get())) inert.insert(layers[i]->name());
  return inert;
}

// Every trainable gradient of `other` against `ref`, a CPU model, within `bound` (relative L2); an
// inert bias's gradient must be rounding noise in both.
inline void expect_gradients_match(const Model& ref, const Model& other, double bound) {
  const std::set<std::string> inert = layers_with_inert_bias(ref);
  const auto pc = ref.parameters(), pg = other.parameters();
  ASSERT_EQ(pc.size(), pg.size());
  for (size_t i = 0; i < pc.size(); ++i) {
    if (!pc[i].trainable) continue;
    const std::string what = pc[i].layer + "/" + pc[i].name + " gradient";
    if (pc[i].name == "bias" && inert.count(pc[i].layer)) {
      const auto kernel = std::find_if(pc.begin(), pc.end(), [&](const Model::Param& p) {
        return p.layer == pc[i].layer && p.name == "kernel";
      });
      ASSERT_NE(kernel, pc.end()) << what;
      const double scale = l2_norm(host(kernel->grad));
      EXPECT_LE(l2_norm(host(pc[i].grad)), 1e-5 * scale) << what << " (reference) should be rounding noise";
      EXPECT_LE(l2_norm(host(pg[i].grad)), 1e-5 * scale) << what << " (other) should be rounding noise";
      continue;
    }
    expect_close_l2(host(pg[i].grad), host(pc[i].grad), bound, what);
  }
}

// One SGD step of both models at their planned batch of 4 toy images of `size` pixels, then one at
// a partial batch of 3, each compared within `bound`: loss, probabilities, every gradient, BN
// running statistics, parameters after the update. same_correct: the correct counts must agree
// (not under TF32, which may flip a near tie).
inline void expect_steps_close(Model& ref, Model& other, int64_t size, const StepBounds& bound, bool same_correct) {
  expect_same_start(ref, other);
  for (int64_t n : {4, 3}) {  // the planned batch, then a partial one
    SCOPED_TRACE("batch " + std::to_string(n));
    ToyImages b(100 * n, n, size);
    const LossResult rc = ref.forward_backward(b.images, b.labels);
    const LossResult rg = other.forward_backward(b.images, b.labels);
    EXPECT_EQ(rg.count, rc.count);
    EXPECT_NEAR(rg.loss, rc.loss, bound.loss * std::max(1.0, std::fabs(rc.loss)));
    if (same_correct) {
      EXPECT_EQ(rg.correct, rc.correct);
    }
    expect_close(host(other.probabilities().first(n)), host(ref.probabilities().first(n)), bound.probs,
                 "probabilities");
    expect_gradients_match(ref, other, bound.grads);
    expect_close(host(other.flat_statistics()), host(ref.flat_statistics()), bound.stats, "BN running statistics");
    ref.apply_update();
    other.apply_update();
    expect_close_l2(host(other.flat_parameters()), host(ref.flat_parameters()), bound.params, "parameters after SGD");
  }
}

}  // namespace knotnet::test
