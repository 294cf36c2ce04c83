// The allocation policies (--alloc) on a pretend card: what each takes, that preallocate starves
// a second process while planned lets two run, fraction's block, growth's one allocation per
// buffer and its cap; and fitting a model to a budget (fallback order, the report).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>

#include "engine/arena.h"
#include "engine/budget_fit.h"
#include "engine/format.h"
#include "engine/layers/conv.h"
#include "engine/model.h"

namespace knotnet {
namespace {

using ::testing::HasSubstr;
constexpr size_t MiB = size_t(1) << 20, GiB = size_t(1) << 30;

// A card of `total` bytes with `free` of them free, shared by the arenas of pretend processes.
// Allocations are accounted in full but backed by at most 64 MiB of host memory each (only the
// plans' first bytes are ever touched here), and poison only writes the backed part.
class FakeCard final : public MemoryResource {
 public:
  static constexpr size_t kBacked = 64 * MiB;
  FakeCard(size_t total, size_t free) : total_(total), free_(free) {}
  ~FakeCard() override { EXPECT_EQ(live_.size(), 0u) << "allocations leaked"; }
  Device device() const override { return Device::cpu; }
  void* allocate(size_t bytes, const std::string& what) override {
    if (bytes > free_) KN_THROW("cannot allocate ", format_bytes(bytes), " for ", what, ": out of memory");
    const size_t backed = std::min(bytes, kBacked);
    void* p = std::aligned_alloc(256, (backed + 255) / 256 * 256);
    free_ -= bytes;
    live_[p] = bytes;
    return p;
  }
  void deallocate(void* p) noexcept override {
    free_ += live_[p];
    live_.erase(p);
    std::free(p);
  }
  void poison(void* p, size_t bytes) override { std::memset(p, 0xFF, std::min(bytes, kBacked)); }
  // What a process starting now would see, its own context of `context` bytes taken first.
  DeviceMemory start_process(size_t context) {
    free_ -= context;
    return {.total = total_, .free = free_, .context = context, .cc_major = 9};
  }
  void end_process(size_t context) { free_ += context; }
  size_t free() const { return free_; }

 private:
  size_t total_, free_;
  std::map<void*, size_t> live_;
};

// A plan with one large buffer (a model of `bytes`) and a small one.
MemoryPlan big_plan(size_t bytes) {
  MemoryPlan plan;
  plan.declare("activations", Role::activation, Shape{static_cast<int64_t>(bytes / 4)}, DType::f32, {0, 1});
  plan.declare("parameters", Role::parameter, Shape{1000}, DType::f32, Lifetime::always());
  plan.finalize();
  return plan;
}

TEST(AllocPolicy, ParsesEveryPolicyAndRejectsTheRest) {
  EXPECT_EQ(parse_alloc_policy("planned").policy, AllocPolicy::planned);
  EXPECT_EQ(parse_alloc_policy("preallocate").policy, AllocPolicy::preallocate);
  EXPECT_EQ(parse_alloc_policy("growth").policy, AllocPolicy::growth);
  AllocOptions f = parse_alloc_policy("fraction=0.3");
  EXPECT_EQ(f.policy, AllocPolicy::fraction);
  EXPECT_DOUBLE_EQ(f.fraction, 0.3);
  EXPECT_EQ(f.str(), "fraction=0.3");
  EXPECT_EQ(parse_alloc_policy("fraction=1").fraction, 1.0);
  for (const char* bad : {"", "plan", "Planned", "fraction", "fraction=", "fraction=0", "fraction=1.5",
                          "fraction=-0.2", "fraction=abc", "fraction=0.3x", "fraction=nan"}) {
    try {
      parse_alloc_policy(bad);
      ADD_FAILURE() << "'" << bad << "' must be rejected";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("--alloc '" + std::string(bad) + "'"));
    }
  }
}

TEST(AllocPolicy, TensorflowReserveFollowsItsTable) {
  EXPECT_EQ(tensorflow_system_reserve(GiB, 9), 225 * MiB);
  EXPECT_EQ(tensorflow_system_reserve(70 * GiB, 9), 1800 * MiB);
  EXPECT_EQ(tensorflow_system_reserve(70 * GiB, 8), 1536 * MiB);
  EXPECT_EQ(tensorflow_system_reserve(70 * GiB, 7), 1050 * MiB);
  EXPECT_EQ(tensorflow_system_reserve(70 * GiB, 6), 500 * MiB);
}

TEST(AllocPolicy, PlannedTakesThePlanExactlyAndPoisonsIt) {
  MemoryPlan plan;
  auto a = plan.declare("a", Role::scratch, Shape{7, 3}, DType::f32, {0, 0});
  auto b = plan.declare("b", Role::scratch, Shape{5}, DType::f64, {1, 1});
  plan.finalize();
  FakeCard card(80 * GiB, 80 * GiB);
  const long before = Arena::allocation_count();
  Arena arena(plan, card, AllocOptions{}, card.start_process(0));
  EXPECT_EQ(Arena::allocation_count(), before + 1);
  EXPECT_EQ(arena.held_bytes(), plan.total_bytes());
  EXPECT_EQ(card.free(), 80 * GiB - plan.total_bytes());
  EXPECT_TRUE(std::isnan(arena.view(plan, a).as<float>()[20]));
  EXPECT_TRUE(std::isnan(arena.view(plan, b).as<double>()[4]));
}

// The original problem in miniature: two processes, each with a 1.2 GiB model, on an 80 GiB
// card. Preallocating, the first takes everything but TensorFlow's reserve and the second cannot
// even hold its small model; planned, both run and the card keeps the rest.
TEST(AllocPolicy, PreallocateStarvesASecondProcessWherePlannedRunsBoth) {
  const MemoryPlan plan = big_plan(1200 * MiB);
  const size_t context = 500 * MiB;
  {
    FakeCard card(80 * GiB, 79 * GiB);
    const AllocOptions pre = parse_alloc_policy("preallocate");
    const DeviceMemory first = card.start_process(context);
    Arena a(plan, card, pre, first);
    EXPECT_EQ(a.held_bytes(), (first.free - 1800 * MiB) / MiB * MiB);
    const DeviceMemory second = card.start_process(context);
    try {
      Arena b(plan, card, pre, second);
      ADD_FAILURE() << "the second preallocating process must not fit";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("less than the plan's"));
      EXPECT_THAT(e.what(), HasSubstr("nothing was allocated"));
    }
    card.end_process(context);
    card.end_process(context);
  }
  {
    FakeCard card(80 * GiB, 79 * GiB);
    Arena a(plan, card, AllocOptions{}, card.start_process(context));
    Arena b(plan, card, AllocOptions{}, card.start_process(context));
    EXPECT_EQ(a.held_bytes() + b.held_bytes(), 2 * plan.total_bytes());
    EXPECT_GT(card.free(), 70 * GiB);
    card.end_process(context);
    card.end_process(context);
  }
}

TEST(AllocPolicy, FractionTakesItsShareOrSaysWhyNot) {
  const MemoryPlan plan = big_plan(1200 * MiB);
  FakeCard card(80 * GiB, 40 * GiB);
  const DeviceMemory dev = card.start_process(0);
  {
    Arena a(plan, card, parse_alloc_policy("fraction=0.25"), dev);
    EXPECT_EQ(a.held_bytes(), 20 * GiB);
  }
  try {
    Arena a(plan, card, parse_alloc_policy("fraction=0.01"), dev);  // 819 MiB < 1.2 GiB
    ADD_FAILURE() << "a block smaller than the plan must be refused";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("--alloc fraction=0.01"));
    EXPECT_THAT(e.what(), HasSubstr("less than the plan's"));
  }
  try {
    Arena a(plan, card, parse_alloc_policy("fraction=0.75"), dev);  // 60 GiB of the 40 free
    ADD_FAILURE() << "more than is free must be refused";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("is more than the 40.00 GiB free"));
    EXPECT_THAT(e.what(), HasSubstr("nothing was allocated"));
  }
  EXPECT_EQ(card.free(), 40 * GiB);
}

TEST(AllocPolicy, GrowthAllocatesEveryBufferApartAndHonoursItsCap) {
  MemoryPlan plan;  // three buffers whose lifetimes never overlap: the plan shares their bytes
  auto a = plan.declare("a", Role::activation, Shape{1024}, DType::f32, {0, 0});
  auto b = plan.declare("b", Role::activation, Shape{2048}, DType::f32, {1, 1});
  auto c = plan.declare("c", Role::activation, Shape{3072}, DType::f32, {2, 2});
  plan.finalize();
  ASSERT_EQ(plan.total_bytes(), 12288u);
  FakeCard card(GiB, GiB);
  const DeviceMemory dev = card.start_process(0);
  {
    const long before = Arena::allocation_count();
    Arena arena(plan, card, parse_alloc_policy("growth"), dev);
    EXPECT_EQ(Arena::allocation_count(), before + 3);
    EXPECT_EQ(arena.held_bytes(), 24576u);
    char* pa = static_cast<char*>(arena.view(plan, a).data);
    char* pb = static_cast<char*>(arena.view(plan, b).data);
    char* pc = static_cast<char*>(arena.view(plan, c).data);
    EXPECT_TRUE(pa + 4096 <= pb || pb + 8192 <= pa);
    EXPECT_TRUE(pb + 8192 <= pc || pc + 12288 <= pb);
    EXPECT_TRUE(pa + 4096 <= pc || pc + 12288 <= pa);
    EXPECT_TRUE(std::isnan(arena.view(plan, c).as<float>()[3071]));
  }
  try {
    Arena arena(plan, card, parse_alloc_policy("growth"), dev, 20000);  // a + b = 12288, + c > 20000
    ADD_FAILURE() << "the cap must stop growth";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("buffer 'c'"));
    EXPECT_THAT(e.what(), HasSubstr("already held by 2 buffers"));
  }
  EXPECT_EQ(card.free(), GiB);  // what growth took before failing was given back
}

TEST(BudgetFit, PolicyBudgets) {
  const DeviceMemory dev{.total = 80 * GiB, .free = 70 * GiB, .context = 500 * MiB, .cc_major = 9};
  const MemoryBudget user = parse_memory_budget("6GiB");
  EXPECT_EQ(policy_budget(AllocOptions{}, user, dev).bytes(dev.total), 6 * GiB);
  EXPECT_EQ(policy_budget(parse_alloc_policy("growth"), user, dev).bytes(dev.total), 6 * GiB);
  EXPECT_EQ(policy_budget(parse_alloc_policy("preallocate"), user, dev).bytes(dev.total),
            70 * GiB - 1800 * MiB + 500 * MiB);
  EXPECT_EQ(policy_budget(parse_alloc_policy("fraction=0.25"), user, dev).bytes(dev.total), 20 * GiB + 500 * MiB);
}

// Plan totals of the seed model at batch 128 on the GPU, for each fallback in order.
struct Attempts {
  std::vector<size_t> totals;
};
size_t seed_total(size_t limit, bool implicit, bool io_sized = false) {
  ModelOptions o;
  o.batch = 128;
  o.device = Device::cuda;
  o.allocate = false;
  o.cudnn_workspace_limit = limit;
  o.cudnn_workspace_io_sized = io_sized;
  o.all_conv_implicit = implicit;
  return Model(load_spec("seed"), o).plan().total_bytes();
}

TEST(BudgetFit, AllConvImplicitPutsEveryConvolutionOnTheImplicitGemm) {
  ModelOptions o;
  o.batch = 8;
  o.device = Device::cuda;
  o.allocate = false;
  o.all_conv_implicit = true;
  Model m(load_spec("seed"), o);
  int convs = 0;
  for (const auto& layer : m.layers())
    if (const auto* conv = dynamic_cast<const ConvLayer*>(layer.get())) {
      ++convs;
      EXPECT_EQ(conv->device_algorithms(), "implicit GEMM") << conv->name();
    }
  EXPECT_EQ(convs, 3);
}

TEST(BudgetFit, TakesTheFirstFallbackThatFitsInOrder) {
#ifndef KNOTNET_HAVE_CUDA
  GTEST_SKIP() << "a build without CUDA plans no convolution workspace: nothing to fall back from";
#endif
  ModelOptions requested;
  requested.batch = 128;
  requested.device = Device::cuda;
  const ModelSpec spec = load_spec("seed");
  // The requested options first (workspace up to each convolution's input + output), then the
  // 64 MiB limit alone, then smaller limits, then the implicit GEMM.
  const std::vector<size_t> totals = {seed_total(64 * MiB, false, true), seed_total(64 * MiB, false),
                                      seed_total(16 * MiB, false),       seed_total(4 * MiB, false),
                                      seed_total(1 * MiB, false),        seed_total(0, false),
                                      seed_total(0, true)};
  // Smaller cuDNN workspace limits never need more; the fallbacks save memory overall.
  for (size_t i = 1; i + 1 < totals.size(); ++i) EXPECT_LE(totals[i], totals[i - 1]) << i;
  const size_t leanest = *std::min_element(totals.begin(), totals.end());
  ASSERT_LT(leanest, totals.front());
  const size_t context = 600 * MiB;
  DeviceMemory card{.total = 80 * GiB, .free = 70 * GiB, .context = context, .cc_major = 9};
  for (size_t want = 0; want < totals.size(); ++want) {
    const MemoryBudget budget = parse_memory_budget(std::to_string(totals[want] + context));
    BudgetFit fit = fit_to_budget(spec, requested, Shape{}, budget, card);
    ASSERT_TRUE(fit.fits) << want;
    // The first attempt (in order) whose total fits is the one taken.
    size_t first = 0;
    while (totals[first] > totals[want]) ++first;
    ModelOptions o = fit.options;
    o.allocate = false;
    EXPECT_EQ(Model(spec, o).plan().total_bytes(), totals[first]) << want << ": " << fit.choice;
    EXPECT_EQ(fit.fell_back, first > 0);
    // The later rungs that also fit, in order, for fit to try should cuDNN refuse this one at
    // build time: those of an equal total included (other algorithms), so exactly the later
    // totals within the budget, the implicit GEMM's last.
    std::vector<size_t> later;
    for (size_t i = first + 1; i < totals.size(); ++i)
      if (totals[i] <= totals[want]) later.push_back(totals[i]);
    std::vector<size_t> next_totals;
    for (const BudgetFit::Fallback& next : fit.next) {
      ModelOptions n = next.options;
      n.allocate = false;
      next_totals.push_back(Model(spec, n).plan().total_bytes());
    }
    EXPECT_EQ(next_totals, later) << want;
    if (!later.empty() && totals.back() <= totals[want]) {
      EXPECT_TRUE(fit.next.back().options.all_conv_implicit) << want;
      EXPECT_EQ(fit.next.back().choice, kImplicitChoice) << want;
    }
  }
  // Below the leanest: the report, with what was tried.
  const MemoryBudget tight = parse_memory_budget(std::to_string(leanest + context - 1));
  BudgetFit none = fit_to_budget(spec, requested, Shape{}, tight, card);
  EXPECT_FALSE(none.fits);
  EXPECT_THAT(none.check.report, HasSubstr("the model does not fit the GPU memory budget at batch 128"));
  EXPECT_THAT(none.check.report, HasSubstr("tried, in order"));
  EXPECT_THAT(none.check.report, HasSubstr("cuDNN with workspace up to each convolution's input + output + filter"));
  EXPECT_THAT(none.check.report, HasSubstr("cuDNN with workspace up to 64.00 MiB"));
  // An attempt whose plan total equals the previous one's is not listed: with workspaces alive
  // at one step only, the small limits and the implicit GEMM can all land on the same total.
  if (totals.back() != totals[totals.size() - 2]) {
    EXPECT_THAT(none.check.report, HasSubstr("implicit GEMM for every convolution"));
  }
  EXPECT_THAT(none.check.report, HasSubstr("the largest batch that fits is"));
}

}  // namespace
}  // namespace knotnet
