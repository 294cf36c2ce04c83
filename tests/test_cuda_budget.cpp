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
  const CudaContext& ctx = CudaContext::get();
  const auto with_context = probe.process_used(getpid(), ctx.pci_bus_id());
  ASSERT_TRUE(with_context.has_value()) << "NVML does not list this process after its context was made";
  // The context as the constructor measured it (whole card, before/after) against NVML's view of
  // this process right after: the same thing seen two ways.
  EXPECT_NEAR(double(ctx.context_bytes()), double(*with_context), std::max(0.05 * double(*with_context), 64 * MiB))
      << ctx.context_method();
  for (int64_t batch : {32, 128, 256}) {
    ModelOptions o;
    o.batch = batch;
    o.device = Device::cuda;
    o.optimizer.name = "adagrad";
    Model m(load_spec("seed"), o);
    // A few steps, so that anything a library allocates on first use is counted too.
    std::vector<uint8_t> images(static_cast<size_t>(batch * 128 * 128 * 3));
    std::vector<int32_t> labels(static_cast<size_t>(batch));
    for (size_t i = 0; i < images.size(); ++i) images[i] = static_cast<uint8_t>((i * 2654435761u) >> 24);
    for (int64_t i = 0; i < batch; ++i) labels[static_cast<size_t>(i)] = static_cast<int32_t>(i % 3);
    const Tensor x(images.data(), Shape{batch, 128, 128, 3}, DType::u8);
    const Tensor y(labels.data(), Shape{batch}, DType::i32);
    for (int s = 0; s < 3; ++s) m.train_on_batch(x, y);
    ctx.sync_compute();
    const auto used = probe.process_used(getpid(), ctx.pci_bus_id());
    ASSERT_TRUE(used.has_value());
    const double predicted = double(m.plan().total_bytes()) + double(*with_context);
    const double tolerance = std::max(0.05 * predicted, 64 * MiB);
    EXPECT_NEAR(double(*used), predicted, tolerance)
        << "batch " << batch << ": process holds " << double(*used) / MiB << " MiB, plan "
        << double(m.plan().total_bytes()) / MiB << " MiB + context " << double(*with_context) / MiB << " MiB";
    std::printf("batch %lld: plan %.1f MiB + context %.1f MiB = %.1f MiB; NVML: %.1f MiB (%+.2f%%)\n",
                static_cast<long long>(batch), double(m.plan().total_bytes()) / MiB, double(*with_context) / MiB,
                predicted / MiB, double(*used) / MiB, 100.0 * (double(*used) - predicted) / predicted);
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
