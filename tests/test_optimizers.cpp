// Optimizers against updates computed by hand: each test runs an optimizer for several steps on
// random parameters with fresh random gradients every step, in float and in double, and
// compares parameters and state after every step with plain double-precision loops written
// here from Keras 3's formulas (not from kernels/cpu/optim.h). Hyper-parameters are chosen so
// that the known differences from PyTorch (where epsilon sits, Adagrad's initial accumulator,
// SGD's velocity carrying the learning rate) would change the numbers far beyond tolerance.
// Also: Keras's defaults, Keras's own documented examples, bad configs and bad arguments, and
// that a step allocates nothing (tests/support/alloc_count.h counts calls to operator new).
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/optimizer.h"
#include "tests/support/alloc_count.h"  // this binary counts calls to operator new
#include "tests/support/test_support.h"

namespace knotnet {
namespace {

using ::testing::HasSubstr;

// ---- The hand-computed reference, in double, one element at a time. ----

struct Reference {
  OptimizerConfig c;
  double lr = 0;
  std::vector<double> p, s0, s1;  // parameters, first and second state slot

  void step(const std::vector<double>& g, int64_t t) {
    const size_t n = p.size();
    if (c.name == "sgd") {
      for (size_t i = 0; i < n; ++i) {
        if (c.momentum == 0) {
          p[i] = p[i] - lr * g[i];
        } else {
          s0[i] = c.momentum * s0[i] - lr * g[i];  // Keras: the velocity includes lr
          p[i] = c.nesterov ? p[i] + c.momentum * s0[i] - lr * g[i] : p[i] + s0[i];
        }
      }
    } else if (c.name == "adagrad") {
      for (size_t i = 0; i < n; ++i) {
        s0[i] = s0[i] + g[i] * g[i];
        p[i] = p[i] - lr * g[i] / std::sqrt(s0[i] + c.epsilon);  // eps inside the root
      }
    } else if (c.name == "rmsprop") {
      for (size_t i = 0; i < n; ++i) {
        s0[i] = c.rho * s0[i] + (1 - c.rho) * g[i] * g[i];
        double increment = lr * g[i] / std::sqrt(s0[i] + c.epsilon);  // eps inside the root
        if (c.momentum > 0) {
          s1[i] = c.momentum * s1[i] + increment;
          p[i] = p[i] - s1[i];
        } else {
          p[i] = p[i] - increment;
        }
      }
    } else if (c.name == "adam") {
      const double bc1 = 1 - std::pow(c.beta1, static_cast<double>(t));
      const double bc2 = 1 - std::pow(c.beta2, static_cast<double>(t));
      for (size_t i = 0; i < n; ++i) {
        s0[i] = c.beta1 * s0[i] + (1 - c.beta1) * g[i];
        s1[i] = c.beta2 * s1[i] + (1 - c.beta2) * g[i] * g[i];
        // Keras: eps is added to sqrt of the uncorrected v ("epsilon hat").
        p[i] = p[i] - lr * std::sqrt(bc2) / bc1 * s0[i] / (std::sqrt(s1[i]) + c.epsilon);
      }
    } else {
      FAIL() << "no reference for " << c.name;
    }
  }
};

// Largest |a - b| over the buffer, relative to the largest |b| (normwise relative error).
template <typename T>
double normwise_error(const std::vector<T>& a, const std::vector<double>& b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

// Tolerances, normwise relative: float accumulates a few roundings of ~6e-8 per step over
// seven steps; double only reassociation, ~1e-16 per step.
template <typename T> constexpr double kTol = 0;
template <> constexpr double kTol<float> = 1e-5;
template <> constexpr double kTol<double> = 1e-12;

constexpr int64_t kP = 1013;  // elements: not a multiple of any vector width
constexpr int kSteps = 7;

// Runs `config` for kSteps on random data and checks every step against the reference.
// With change_lr, the learning rate is halved before step 4 (Keras's SGD velocity keeps the
// old learning rate inside it; PyTorch's buffer does not).
template <typename T>
void check_against_reference(const OptimizerConfig& config, uint64_t seed, bool change_lr = false) {
  SCOPED_TRACE("optimizer " + config.name);
  auto opt = make_optimizer(config);
  const int slots = opt->state_slots();
  const DType dt = dtype_of<T>();

  std::vector<T> p(kP), g(kP);
  std::vector<std::vector<T>> s(static_cast<size_t>(slots), std::vector<T>(kP));
  std::vector<double> p0 = test::random_values(kP, seed, -1, 1);
  for (int64_t i = 0; i < kP; ++i) p[i] = static_cast<T>(p0[i]);
  // Garbage in the state buffers: init_state must overwrite every element.
  for (auto& buf : s) {
    auto junk = test::random_values(kP, seed + 99, 5, 9);
    for (int64_t i = 0; i < kP; ++i) buf[i] = static_cast<T>(junk[i]);
  }
  Tensor tp(p.data(), Shape{kP}, dt), tg(g.data(), Shape{kP}, dt);
  std::vector<Tensor> ts;
  for (auto& buf : s) ts.emplace_back(buf.data(), Shape{kP}, dt);
  opt->init_state(ts);

  Reference ref{config, opt->lr(), {}, std::vector<double>(kP, 0.0), std::vector<double>(kP, 0.0)};
  for (int64_t i = 0; i < kP; ++i) ref.p.push_back(static_cast<double>(p[i]));
  if (config.name == "adagrad") ref.s0.assign(kP, config.initial_accumulator);

  for (int t = 1; t <= kSteps; ++t) {
    SCOPED_TRACE("step " + std::to_string(t));
    if (change_lr && t == 4) {
      opt->set_lr(opt->lr() / 2);
      ref.lr /= 2;
    }
    // Gradients in [-2, 2), scaled per element over four decades so that some sit below
    // epsilon and some far above it.
    auto fresh = test::random_values(kP, seed * 1000 + static_cast<uint64_t>(t), -2, 2);
    std::vector<double> gd(kP);
    for (int64_t i = 0; i < kP; ++i) {
      g[i] = static_cast<T>(fresh[i] * std::pow(10.0, -static_cast<double>(i % 4)));
      gd[i] = static_cast<double>(g[i]);
    }
    opt->step(tp, tg, ts, t);
    ref.step(gd, t);
    EXPECT_LE(normwise_error(p, ref.p), kTol<T>) << "parameters";
    if (slots >= 1) {
      EXPECT_LE(normwise_error(s[0], ref.s0), kTol<T>) << "state slot 0";
    }
    if (slots >= 2) {
      EXPECT_LE(normwise_error(s[1], ref.s1), kTol<T>) << "state slot 1";
    }
  }
  // The parameters really moved: a step that did nothing would pass none of the above anyway,
  // but make the scale of the check visible.
  EXPECT_GT(normwise_error(p, p0), 100 * kTol<T>);
}

OptimizerConfig config(const std::string& name) {
  OptimizerConfig c;
  c.name = name;
  return c;
}

template <typename T>
class OptimizerVsHand : public ::testing::Test {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(OptimizerVsHand, FloatTypes);

TYPED_TEST(OptimizerVsHand, SgdPlain) {
  OptimizerConfig c = config("sgd");
  c.lr = 0.1;
  check_against_reference<TypeParam>(c, 1);
}

TYPED_TEST(OptimizerVsHand, SgdMomentum) {
  OptimizerConfig c = config("sgd");
  c.lr = 0.05;
  c.momentum = 0.9;
  check_against_reference<TypeParam>(c, 2);
  check_against_reference<TypeParam>(c, 3, /*change_lr=*/true);
}

TYPED_TEST(OptimizerVsHand, SgdNesterov) {
  OptimizerConfig c = config("sgd");
  c.lr = 0.05;
  c.momentum = 0.8;
  c.nesterov = true;
  check_against_reference<TypeParam>(c, 4);
  check_against_reference<TypeParam>(c, 5, /*change_lr=*/true);
}

TYPED_TEST(OptimizerVsHand, Adagrad) {
  OptimizerConfig c = config("adagrad");
  c.lr = 0.1;
  c.initial_accumulator = 0.2;
  c.epsilon = 0.05;  // large, so that sqrt(acc + eps) and sqrt(acc) + eps differ visibly
  check_against_reference<TypeParam>(c, 6);
}

TYPED_TEST(OptimizerVsHand, AdagradZeroInitialAccumulator) {
  OptimizerConfig c = config("adagrad");
  c.lr = 0.1;
  c.initial_accumulator = 0;
  c.epsilon = 1e-3;
  check_against_reference<TypeParam>(c, 7);
}

TYPED_TEST(OptimizerVsHand, Rmsprop) {
  OptimizerConfig c = config("rmsprop");
  c.lr = 0.05;
  c.rho = 0.8;
  c.epsilon = 0.01;
  check_against_reference<TypeParam>(c, 8);
}

TYPED_TEST(OptimizerVsHand, RmspropMomentum) {
  OptimizerConfig c = config("rmsprop");
  c.lr = 0.02;
  c.rho = 0.7;
  c.momentum = 0.6;
  c.epsilon = 0.01;
  check_against_reference<TypeParam>(c, 9);
  check_against_reference<TypeParam>(c, 10, /*change_lr=*/true);
}

TYPED_TEST(OptimizerVsHand, Adam) {
  OptimizerConfig c = config("adam");
  c.lr = 0.05;
  c.beta1 = 0.8;
  c.beta2 = 0.95;
  c.epsilon = 0.01;  // large, so that Keras's and PyTorch's epsilon placements differ visibly
  check_against_reference<TypeParam>(c, 11);
}

TYPED_TEST(OptimizerVsHand, EveryOptimizerWithItsDefaults) {
  for (const char* name : {"sgd", "adagrad", "rmsprop", "adam"})
    check_against_reference<TypeParam>(config(name), 12);
}

// ---- Defaults and Keras's own numbers. ----

TEST(OptimizerDefaults, LearningRatesAndSlotsAreKeras3s) {
  EXPECT_EQ(make_optimizer(config("sgd"))->lr(), 0.01);
  EXPECT_EQ(make_optimizer(config("adagrad"))->lr(), 0.001);
  EXPECT_EQ(make_optimizer(config("rmsprop"))->lr(), 0.001);
  EXPECT_EQ(make_optimizer(config("adam"))->lr(), 0.001);
  OptimizerConfig c = config("adam");
  c.lr = 0.25;
  EXPECT_EQ(make_optimizer(c)->lr(), 0.25);

  EXPECT_EQ(make_optimizer(config("sgd"))->state_slots(), 0);
  EXPECT_EQ(make_optimizer(config("adagrad"))->state_slots(), 1);
  EXPECT_EQ(make_optimizer(config("rmsprop"))->state_slots(), 1);
  EXPECT_EQ(make_optimizer(config("adam"))->state_slots(), 2);
  OptimizerConfig m = config("sgd");
  m.momentum = 0.9;
  EXPECT_EQ(make_optimizer(m)->state_slots(), 1);
  m.name = "rmsprop";
  EXPECT_EQ(make_optimizer(m)->state_slots(), 2);

  const OptimizerConfig d;
  EXPECT_EQ(d.momentum, 0.0);
  EXPECT_FALSE(d.nesterov);
  EXPECT_EQ(d.rho, 0.9);
  EXPECT_EQ(d.beta1, 0.9);
  EXPECT_EQ(d.beta2, 0.999);
  EXPECT_EQ(d.epsilon, 1e-7);
  EXPECT_EQ(d.initial_accumulator, 0.1);
}

TEST(OptimizerDefaults, NamesAndCase) {
  EXPECT_THAT(optimizer_names(), ::testing::ElementsAre("sgd", "adagrad", "rmsprop", "adam"));
  for (const std::string& n : optimizer_names()) EXPECT_EQ(make_optimizer(config(n))->name(), n);
  EXPECT_STREQ(make_optimizer(config("Adam"))->name(), "adam");
}

TEST(OptimizerDefaults, InitialState) {
  std::vector<double> a(5, 7.0), b(5, 7.0);
  std::vector<Tensor> st{Tensor(a.data(), Shape{5}, DType::f64)};
  make_optimizer(config("adagrad"))->init_state(st);
  EXPECT_THAT(a, ::testing::Each(0.1));  // Keras's initial_accumulator_value (PyTorch: 0)
  st.emplace_back(b.data(), Shape{5}, DType::f64);
  make_optimizer(config("adam"))->init_state(st);
  EXPECT_THAT(a, ::testing::Each(0.0));
  EXPECT_THAT(b, ::testing::Each(0.0));
}

// Runs one step on a small double buffer and returns the parameters.
std::vector<double> one_step(const OptimizerConfig& c, std::vector<double> p, std::vector<double> g) {
  auto opt = make_optimizer(c);
  std::vector<std::vector<double>> s(static_cast<size_t>(opt->state_slots()), std::vector<double>(p.size()));
  const int64_t n = static_cast<int64_t>(p.size());
  std::vector<Tensor> ts;
  for (auto& buf : s) ts.emplace_back(buf.data(), Shape{n}, DType::f64);
  opt->init_state(ts);
  opt->step(Tensor(p.data(), Shape{n}, DType::f64), Tensor(g.data(), Shape{n}, DType::f64), ts, 1);
  return p;
}

TEST(OptimizerDefaults, KerasDocumentedExamples) {
  // keras.optimizers.RMSprop's docstring: lr 0.1, var 10, loss var^2 / 2, one step -> 9.683772.
  OptimizerConfig r = config("rmsprop");
  r.lr = 0.1;
  EXPECT_NEAR(one_step(r, {10.0}, {10.0})[0], 9.683772, 1e-6);
  // Adagrad at lr 0.5 with the default accumulator 0.1 and epsilon 1e-7, one step:
  // 1 - 0.5 * 1 / sqrt(0.1 + 1 + 1e-7) = 0.52327..., and so on (hand-computed to 4 decimals).
  OptimizerConfig a = config("adagrad");
  a.lr = 0.5;
  auto p = one_step(a, {1, 2, 3, 4}, {1, 6, 7, 2});
  EXPECT_THAT(p, ::testing::Pointwise(::testing::DoubleNear(1e-4), std::vector<double>{0.5233, 1.5007, 2.5005, 3.5061}));
  // Adam's first step moves a parameter by lr * sign(g), less a little for epsilon: with
  // m = 0.1 g and v = 0.001 g^2 it is lr / (1 + eps / (sqrt(0.001) |g|)). (PyTorch's placement
  // of eps would give lr / (1 + eps / |g|), 30 times closer to lr.)
  auto q = one_step(config("adam"), {1, 1}, {0.5, -2});
  EXPECT_NEAR(q[0], 1 - 0.001 / (1 + 1e-7 / (std::sqrt(0.001) * 0.5)), 1e-14);
  EXPECT_NEAR(q[1], 1 + 0.001 / (1 + 1e-7 / (std::sqrt(0.001) * 2)), 1e-14);
}

// ---- Bad configurations and arguments. ----

std::string error_of(const OptimizerConfig& c) {
  try {
    make_optimizer(c);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(OptimizerConfigErrors, NameTheOptimizerAndTheParameter) {
  EXPECT_THAT(error_of(config("adamw")), HasSubstr("unknown optimizer 'adamw'; expected one of: sgd, adagrad, rmsprop, adam"));
  OptimizerConfig c = config("sgd");
  c.lr = 0;
  EXPECT_THAT(error_of(c), HasSubstr("sgd: learning rate must be positive"));
  c.lr = std::nan("");
  EXPECT_THAT(error_of(c), HasSubstr("sgd: learning rate must be positive"));
  c = config("sgd");
  c.momentum = 1.0;
  EXPECT_THAT(error_of(c), HasSubstr("sgd: momentum must be in [0, 1), got 1"));
  c.momentum = -0.1;
  EXPECT_THAT(error_of(c), HasSubstr("sgd: momentum must be in [0, 1), got -0.1"));
  c = config("sgd");
  c.nesterov = true;
  EXPECT_THAT(error_of(c), HasSubstr("sgd: nesterov needs momentum > 0"));
  c = config("rmsprop");
  c.rho = 1.5;
  EXPECT_THAT(error_of(c), HasSubstr("rmsprop: rho must be in [0, 1), got 1.5"));
  c = config("rmsprop");
  c.momentum = 1;
  EXPECT_THAT(error_of(c), HasSubstr("rmsprop: momentum must be in [0, 1)"));
  c = config("rmsprop");
  c.nesterov = true;
  EXPECT_THAT(error_of(c), HasSubstr("rmsprop has no Nesterov variant"));
  c = config("adam");
  c.beta1 = 1;
  EXPECT_THAT(error_of(c), HasSubstr("adam: beta1 must be in [0, 1), got 1"));
  c = config("adam");
  c.beta2 = -1e-3;
  EXPECT_THAT(error_of(c), HasSubstr("adam: beta2 must be in [0, 1)"));
  c = config("adam");
  c.epsilon = 0;
  EXPECT_THAT(error_of(c), HasSubstr("adam: epsilon must be positive, got 0"));
  c = config("adam");
  c.momentum = 0.9;
  EXPECT_THAT(error_of(c), HasSubstr("adam has no momentum parameter"));
  c = config("adagrad");
  c.initial_accumulator = -0.1;
  EXPECT_THAT(error_of(c), HasSubstr("adagrad: initial_accumulator must be >= 0, got -0.1"));
  c = config("adagrad");
  c.epsilon = -1;
  EXPECT_THAT(error_of(c), HasSubstr("adagrad: epsilon must be positive"));
  c = config("adagrad");
  c.momentum = 0.5;
  EXPECT_THAT(error_of(c), HasSubstr("adagrad has no momentum parameter"));
}

template <typename F>
std::string error_in(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(OptimizerStepErrors, MismatchedBuffersAndDevices) {
  auto opt = make_optimizer(config("adam"));
  std::vector<double> p(8, 0.5), g(8, 0.25), m(8), v(8), small(4);
  std::vector<float> pf(8);
  Tensor tp(p.data(), Shape{8}, DType::f64), tg(g.data(), Shape{8}, DType::f64);
  std::vector<Tensor> st{Tensor(m.data(), Shape{8}, DType::f64), Tensor(v.data(), Shape{8}, DType::f64)};
  EXPECT_THAT(error_in([&] { opt->step(tp, Tensor(small.data(), Shape{4}, DType::f64), st, 1); }),
              HasSubstr("adam: the gradient has 4 elements, expected 8"));
  EXPECT_THAT(error_in([&] { opt->step(tp, Tensor(pf.data(), Shape{8}, DType::f32), st, 1); }),
              HasSubstr("adam: the gradient is f32, expected f64"));
  EXPECT_THAT(error_in([&] { opt->step(tp, tg, {st[0]}, 1); }), HasSubstr("adam: expected 2 state buffer(s), got 1"));
  EXPECT_THAT(error_in([&] { opt->step(tp, tg, st, 0); }), HasSubstr("adam: step numbers start at 1, got 0"));
  EXPECT_THAT(error_in([&] { opt->step(tp, Tensor(g.data(), Shape{8}, DType::f64, Device::cuda), st, 1); }),
              HasSubstr("adam: the gradient is on cuda, expected cpu"));
  // All on "cuda": dispatch reaches the device and says the backend is missing. The pointers
  // are host memory, but nothing may touch them before the check.
  Tensor cp(p.data(), Shape{8}, DType::f64, Device::cuda), cg(g.data(), Shape{8}, DType::f64, Device::cuda);
  std::vector<Tensor> cs{Tensor(m.data(), Shape{8}, DType::f64, Device::cuda),
                         Tensor(v.data(), Shape{8}, DType::f64, Device::cuda)};
#ifdef KNOTNET_HAVE_CUDA
  // With the CUDA backend built, the f64 buffers are refused before any kernel sees them.
  EXPECT_THAT(error_in([&] { opt->step(cp, cg, cs, 1); }), HasSubstr("adam: the CUDA backend computes in f32 only"));
#else
  EXPECT_THAT(error_in([&] { opt->step(cp, cg, cs, 1); }),
              HasSubstr("adam: the CUDA backend is not in this build yet"));
#endif
  EXPECT_THAT(p, ::testing::Each(0.5));
  EXPECT_THAT(error_in([&] { make_optimizer(config("adagrad"))->init_state({}); }),
              HasSubstr("adagrad: expected 1 state buffer(s), got 0"));
#ifdef KNOTNET_HAVE_CUDA
  EXPECT_THAT(error_in([&] { make_optimizer(config("adagrad"))->init_state({cs[0]}); }),
              HasSubstr("adagrad: the CUDA backend computes in f32 only"));
#else
  EXPECT_THAT(error_in([&] { make_optimizer(config("adagrad"))->init_state({cs[0]}); }),
              HasSubstr("adagrad: the CUDA backend is not in this build yet"));
#endif
  EXPECT_THAT(m, ::testing::Each(0.0));
}

// ---- One pass, no allocation. ----

TEST(OptimizerStep, AllocatesNothing) {
  const int64_t start = test::heap_allocations();
  auto probe = std::make_unique<int>(1);
  ASSERT_GT(test::heap_allocations(), start) << "the allocation counter does not count";
  for (const char* name : {"sgd", "adagrad", "rmsprop", "adam"}) {
    OptimizerConfig c = config(name);
    if (c.name != "adagrad" && c.name != "adam") c.momentum = 0.5;
    auto opt = make_optimizer(c);
    auto p = test::random_floats(64, 21), g = test::random_floats(64, 22);
    std::vector<std::vector<float>> s(static_cast<size_t>(opt->state_slots()), std::vector<float>(64));
    std::vector<Tensor> ts;
    for (auto& buf : s) ts.emplace_back(buf.data(), Shape{64}, DType::f32);
    opt->init_state(ts);
    Tensor tp(p.data(), Shape{64}, DType::f32), tg(g.data(), Shape{64}, DType::f32);
    const int64_t before = test::heap_allocations();
    for (int t = 1; t <= 3; ++t) opt->step(tp, tg, ts, t);
    EXPECT_EQ(test::heap_allocations() - before, 0) << name << " allocated during step";
  }
}

}  // namespace
}  // namespace knotnet
