// The memory plan is exact on the GPU: the process's device memory (NVML's per-process figure,
// context included) while a model trains matches the plan plus the measured context within 5%
// or 64 MiB, at several batch sizes, under --alloc planned; train_knots refuses a budget just too
// small with the report (and no out-of-memory error) and trains under one just large enough.
// GPU only: skipped without a GPU or without NVML. These tests run serially (tests/CMakeLists.txt)
// because other processes on the card would not disturb NVML's per-process figure, but would
// disturb the context measurement, which reads the whole card's used memory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>

#include "engine/cuda_context.h"
#include "engine/gpu_memory_probe.h"
#include "engine/model.h"
#include "tests/support/cuda_testing.h"
#include "tests/support/test_support.h"

namespace knotnet {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
constexpr double MiB = 1024.0 * 1024.0;

#define KN_REQUIRE_NVML()                                                                               \
  do {                                                                                                  \
    if (!GpuMemoryProbe::get().available()) GTEST_SKIP() << GpuMemoryProbe::get().why_unavailable();    \
  } while (0)

TEST(CudaBudget, PlanPlusContextMatchesTheProcessesDeviceMemory) {
  KN_REQUIRE_GPU();
  KN_REQUIRE_NVML();
#ifdef KNOTNET_HAVE_CUDA
  const GpuMemoryProbe& probe = GpuMemoryProbe::get();
  // The card before this process made its context (each ctest case is its own process, and
  // these run serially): the fallback baseline where NVML does not list this process.
  char bus[32] = {};
  ASSERT_EQ(cudaDeviceGetPCIBusId(bus, sizeof bus, 0), cudaSuccess);
  const auto card_before = probe.device_usage(bus);
  ASSERT_TRUE(card_before.has_value());
  const CudaContext& ctx = CudaContext::get();
  std::string how = "NVML per process";
  auto process_now = [&]() -> std::optional<size_t> {
    if (auto p = probe.process_used(getpid(), ctx.pci_bus_id())) return p;
    how = "NVML, the whole card against before the context";
    const auto card = probe.device_usage(ctx.pci_bus_id());
    if (!card || card->used < card_before->used) return std::nullopt;
    return card->used - card_before->used;
  };
  const auto with_context = process_now();
  ASSERT_TRUE(with_context.has_value());
  // The context as the constructor measured it (this process's own figure where NVML lists it),
  // against the whole card's growth since before the context: this process is alone on the card
  // here, so the two must agree.
  const auto card_after = probe.device_usage(ctx.pci_bus_id());
  ASSERT_TRUE(card_after.has_value());
  const double card_growth = double(card_after->used) - double(card_before->used);
  // Only the process's own figure is compared: the fallback is the card's growth itself. (Each
  // ctest case is its own process, so this test made the context, after card_before.)
  if (ctx.context_method().find("this process's device memory") != std::string::npos) {
    EXPECT_NEAR(double(ctx.context_bytes()), card_growth, std::max(0.05 * card_growth, 64 * MiB))
        << ctx.context_method() << "; the card grew by " << card_growth / MiB << " MiB";
  }
  std::printf("context: %.1f MiB by %s; the card grew by %.1f MiB; the process holds %.1f MiB (%s)\n",
              double(ctx.context_bytes()) / MiB, ctx.context_method().c_str(), card_growth / MiB,
              double(*with_context) / MiB, how.c_str());
  for (int64_t batch : {32, 128, 256}) {
    {
      ModelOptions o;
      o.batch = batch;
      o.device = Device::cuda;
      o.optimizer.name = "adagrad";
      Model m(load_spec("seed"), o);
      // A few steps, so that what libraries and lazily loaded kernels take on first use counts.
      std::vector<uint8_t> images(static_cast<size_t>(batch * 128 * 128 * 3));
      std::vector<int32_t> labels(static_cast<size_t>(batch));
      for (size_t i = 0; i < images.size(); ++i) images[i] = static_cast<uint8_t>((i * 2654435761u) >> 24);
      for (int64_t i = 0; i < batch; ++i) labels[static_cast<size_t>(i)] = static_cast<int32_t>(i % 3);
      const Tensor x(images.data(), Shape{batch, 128, 128, 3}, DType::u8);
      const Tensor y(labels.data(), Shape{batch}, DType::i32);
      for (int s = 0; s < 3; ++s) m.train_on_batch(x, y);
      ctx.sync_compute();
      const auto used = process_now();
      ASSERT_TRUE(used.has_value());
      // The prediction the budget check makes: the plan plus the context as knotnet measured it.
      const double predicted = double(m.plan().total_bytes()) + double(ctx.context_bytes());
      EXPECT_NEAR(double(*used), predicted, std::max(0.05 * predicted, 64 * MiB))
          << "batch " << batch << ": process holds " << double(*used) / MiB << " MiB, plan "
          << double(m.plan().total_bytes()) / MiB << " MiB + context " << double(ctx.context_bytes()) / MiB
          << " MiB (measured through " << how << ")";
      std::printf("batch %lld: plan %.1f MiB + context %.1f MiB = %.1f MiB; NVML: %.1f MiB (%+.2f%%)\n",
                  static_cast<long long>(batch), double(m.plan().total_bytes()) / MiB,
                  double(ctx.context_bytes()) / MiB, predicted / MiB, double(*used) / MiB,
                  100.0 * (double(*used) - predicted) / predicted);
    }
    // With the model gone: what stays is the context plus what the first steps loaded (kernel
    // code, local memory), which the context measurement could not see. Printed, not judged.
    if (const auto idle = process_now())
      std::printf("after batch %lld: the process holds %.1f MiB without a model; %+.1f MiB beyond the context\n",
                  static_cast<long long>(batch), double(*idle) / MiB,
                  (double(*idle) - double(ctx.context_bytes())) / MiB);
  }
#endif
}

// The budget at the edge, end to end through train_knots on a small 128-pixel file.
class CudaBudgetEdge : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::have_gpu()) return;
    dir_ = new test::TempDir();
    data_ = (dir_->path() / "knots128.h5").string();
    std::string out;
    ASSERT_EQ(test::run_command(bin("make_knots") + " --out " + data_ + " --per-class 40 --size 128 --seed 3", &out), 0)
        << out;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string bin(const std::string& name) { return (test::binary_dir() / "bin" / name).string(); }
  static test::TempDir* dir_;
  static std::string data_;
};
test::TempDir* CudaBudgetEdge::dir_ = nullptr;
std::string CudaBudgetEdge::data_;

TEST_F(CudaBudgetEdge, JustTooSmallIsRefusedWithTheReportAndJustEnoughTrains) {
  KN_REQUIRE_GPU();
  // What the leanest plan needs at batch 64, context included, as plan measures it on this card.
  std::string out;
  ASSERT_EQ(test::run_command(bin("train_knots") + " plan --model seed --batch 64 --device cuda --gpu-mem 1MiB --json "
                                  "2>/dev/null", &out), 0) << out;
  const nlohmann::json plan = nlohmann::json::parse(out);
  ASSERT_FALSE(plan["budget"]["fits"].get<bool>());
  const double needed = plan["budget"]["needed_bytes"].get<double>();
  // Contexts differ a little between processes: 16 MiB either side.
  const std::string fit = bin("train_knots") + " fit --data " + data_ + " --model seed --batch 64 --device cuda " +
                          "--epochs 1 --steps-per-epoch 3 --threads 2 --out " + (dir_->path() / "run").string();
  const auto mib = [](double bytes) { return std::to_string(static_cast<long long>(bytes / MiB)) + "MiB"; };
  out.clear();
  EXPECT_NE(test::run_command(fit + " --gpu-mem " + mib(needed - 16 * MiB), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("does not fit the GPU memory budget at batch 64"));
  EXPECT_THAT(out, HasSubstr("the largest batch that fits is"));
  EXPECT_THAT(out, HasSubstr("nothing was allocated and training did not start"));
  EXPECT_THAT(out, Not(HasSubstr("out of memory")));
  out.clear();
  ASSERT_EQ(test::run_command(fit + " --gpu-mem " + mib(needed + 16 * MiB) + " --json", &out), 0) << out;
  std::ifstream summary(dir_->path() / "run" / "summary.json");
  const nlohmann::json s = nlohmann::json::parse(summary);
  const double held = s["gpu_held_bytes"].get<double>() + s["gpu_context_bytes"].get<double>();
  EXPECT_LE(held, needed + 16 * MiB);
  EXPECT_EQ(s["status"], "completed");
}

}  // namespace
}  // namespace knotnet
