// memcap (apps/memcap): its flags, the budget search against a pretend training run, and both
// experiments end to end on the CPU with the tiny model on a small make_knots file: the sweep's
// planned bytes equal `train_knots plan --json`'s, its measured figures are real, two-jobs runs
// both processes, and `report` rebuilds memcap.md from the raw JSON. The GPU cases (the second
// job refused under preallocate, the sweep on the card, PyTorch's figures) skip without a GPU.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "apps/memcap/budget_search.h"
#include "tests/support/test_support.h"

namespace knotnet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

std::string bin(const std::string& name) { return (test::binary_dir() / "bin" / name).string(); }

json read_json(const fs::path& p) {
  std::ifstream f(p);
  return json::parse(f);
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// CSV rows as maps from the header's names (memcap's CSVs quote no field these tests read).
std::vector<std::map<std::string, std::string>> read_csv(const fs::path& p) {
  std::ifstream f(p);
  std::string line;
  std::vector<std::string> names;
  auto split = [](const std::string& l) {
    std::vector<std::string> v;
    std::stringstream s(l);
    for (std::string x; std::getline(s, x, ',');) v.push_back(x);
    if (!l.empty() && l.back() == ',') v.push_back("");
    return v;
  };
  std::getline(f, line);
  names = split(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(f, line)) {
    auto v = split(line);
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < names.size() && i < v.size(); ++i) row[names[i]] = v[i];
    rows.push_back(row);
  }
  return rows;
}

// ---- the budget search, driven by a pretend training run that needs `need` MiB ----------------

struct PretendRun {
  int64_t need;
  int calls = 0;
  std::optional<bool> operator()(int64_t mib) {
    ++calls;
    return mib >= need;
  }
};

TEST(memcap_budget_search, AGoodGuessTakesTwoRuns) {
  PretendRun run{1000};
  memcap::BudgetSearch s = memcap::find_smallest_budget(1000, 16, 80 * 1024, 8, run);
  EXPECT_TRUE(s.converged);
  EXPECT_EQ(*s.smallest_ok_mib, 1008);  // the smallest multiple of 16 at or above 1000
  EXPECT_EQ(*s.largest_fail_mib, 992);
  EXPECT_EQ(s.runs(), 2);
  EXPECT_EQ(run.calls, 2);
}

TEST(memcap_budget_search, WidensDownThenBisects) {
  PretendRun run{300};
  memcap::BudgetSearch s = memcap::find_smallest_budget(2000, 16, 80 * 1024, 20, run);
  EXPECT_TRUE(s.converged);
  EXPECT_EQ(*s.smallest_ok_mib, 304);
  EXPECT_EQ(*s.largest_fail_mib, 288);
  EXPECT_LE(s.runs(), 14);
  for (auto [mib, ran] : s.tries) EXPECT_EQ(ran, mib >= 300) << mib;
}

TEST(memcap_budget_search, WidensUpThenBisects) {
  PretendRun run{5000};
  memcap::BudgetSearch s = memcap::find_smallest_budget(100, 16, 80 * 1024, 20, run);
  EXPECT_TRUE(s.converged);
  EXPECT_EQ(*s.smallest_ok_mib, 5008);
  EXPECT_EQ(*s.largest_fail_mib, 4992);
}

TEST(memcap_budget_search, StopsAtMaxRunsAndSaysSo) {
  PretendRun run{300};
  memcap::BudgetSearch s = memcap::find_smallest_budget(2000, 16, 80 * 1024, 3, run);
  EXPECT_FALSE(s.converged);
  EXPECT_EQ(s.runs(), 3);
  EXPECT_EQ(run.calls, 3);
  EXPECT_GE(*s.smallest_ok_mib, 304);  // an upper bound, honestly not the answer
}

TEST(memcap_budget_search, NothingFitsTheCard) {
  PretendRun run{100000};
  memcap::BudgetSearch s = memcap::find_smallest_budget(70000, 16, 80 * 1024, 20, run);
  EXPECT_FALSE(s.smallest_ok_mib.has_value());
  EXPECT_EQ(*s.largest_fail_mib, 80 * 1024);
  EXPECT_FALSE(s.converged);
}

TEST(memcap_budget_search, TheSmallestBudgetRuns) {
  PretendRun run{1};
  memcap::BudgetSearch s = memcap::find_smallest_budget(100, 16, 80 * 1024, 20, run);
  EXPECT_TRUE(s.converged);
  EXPECT_EQ(*s.smallest_ok_mib, 16);
  EXPECT_FALSE(s.largest_fail_mib.has_value());
}

TEST(memcap_budget_search, ARunThatDeclinesEndsTheSearch) {
  int calls = 0;
  memcap::BudgetSearch s = memcap::find_smallest_budget(1000, 16, 80 * 1024, 8, [&](int64_t) -> std::optional<bool> {
    if (++calls > 1) return std::nullopt;
    return true;
  });
  EXPECT_TRUE(s.stopped);
  EXPECT_FALSE(s.converged);
  EXPECT_EQ(s.runs(), 1);
}

// ---- the command line ----------------------------------------------------------------------

TEST(memcap_cli, HelpDescribesEverySubcommand) {
  std::string out;
  ASSERT_EQ(test::run_command(bin("memcap") + " --help", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("two-jobs"));
  EXPECT_THAT(out, HasSubstr("sweep"));
  EXPECT_THAT(out, HasSubstr("report"));
  for (const char* sub : {"two-jobs", "sweep", "report"}) {
    ASSERT_EQ(test::run_command(bin("memcap") + " " + sub + " --help", &out), 0) << out;
    EXPECT_THAT(out, HasSubstr("Usage"));
  }
  ASSERT_EQ(test::run_command(bin("memcap") + " sweep --help", &out), 0);
  EXPECT_THAT(out, HasSubstr("--max-search-runs"));
  EXPECT_THAT(out, HasSubstr("--torch"));
}

TEST(memcap_cli, BadFlagsAreRejectedWithAMessage) {
  test::TempDir dir;
  const std::string memcap = bin("memcap");
  const std::string data = (dir / "none.h5").string();
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"", "A subcommand is required"},
      {"sweep", "--data is required"},
      {"sweep --data " + data + " --batches 32,,64", "--batches '32,,64'"},
      {"sweep --data " + data + " --batches 32,x", "'x' is not a positive batch size"},
      {"sweep --data " + data + " --policies planned,bogus", "bogus"},
      {"sweep --data " + data + " --device cpu --policies preallocate", "needs a GPU"},
      {"sweep --data " + data + " --device tpu", "--device"},
      {"two-jobs --data " + data + " --device cpu --policies planned,growth", "no such file"},
      {"two-jobs --data " + data + " --steps 0", "--steps"},
      {"report --in " + dir.path().string(), "holds neither two_jobs.json nor sweep.json"},
      {"sweep --data " + data + " --train-knots " + (dir / "nothing").string(), "--train-knots"},
  };
  for (const Case& c : cases) {
    std::string out;
    EXPECT_NE(test::run_command(memcap + " " + c.args, &out), 0) << c.args;
    EXPECT_THAT(out, HasSubstr(c.message)) << c.args;
    EXPECT_THAT(out, ::testing::Not(HasSubstr("terminate called"))) << c.args;
  }
}

// ---- both experiments on the CPU, once for the tests below -------------------------------------

class MemcapCpu : public ::testing::Test {
 protected:
  // The data file once per test process; each experiment when a test first needs it.
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    data_ = (dir_->path() / "knots32.h5").string();
    out_ = dir_->path() / "results";
    std::string log;
    ASSERT_EQ(test::run_command(
                  bin("make_knots") + " --out " + data_ + " --per-class 40 --size 32 --seed 7 --threads 2", &log),
              0)
        << log;
  }
  static std::string common() {
    return " --data " + data_ + " --model tiny --device cpu --threads 1 --out " + out_.string();
  }
  static void run_sweep() {
    if (sweep_rc_ < 0)
      sweep_rc_ = test::run_command(
          bin("memcap") + " sweep" + common() + " --batches 8,16 --steps 3 --max-search-runs 2", &sweep_log_);
  }
  static void run_two_jobs() {
    if (two_rc_ < 0)
      two_rc_ = test::run_command(
          bin("memcap") + " two-jobs" + common() + " --policies planned,growth --batch 8 --steps 3", &two_log_);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static test::TempDir* dir_;
  static std::string data_, sweep_log_, two_log_;
  static fs::path out_;
  static int sweep_rc_, two_rc_;
};
test::TempDir* MemcapCpu::dir_ = nullptr;
std::string MemcapCpu::data_, MemcapCpu::sweep_log_, MemcapCpu::two_log_;
fs::path MemcapCpu::out_;
int MemcapCpu::sweep_rc_ = -1, MemcapCpu::two_rc_ = -1;
// Suites are named memcap_* so that `ctest -R memcap` selects every test of this file.
using memcap_cpu = MemcapCpu;

TEST_F(memcap_cpu, SweepPlannedBytesAreThePlansAndMeasuredFiguresAreReal) {
  run_sweep();
  ASSERT_EQ(sweep_rc_, 0) << sweep_log_;
  EXPECT_THAT(sweep_log_, HasSubstr("memcap: sweep batch 8 planned: plan"));  // one progress line per run
  const auto rows = read_csv(out_ / "sweep.csv");
  ASSERT_EQ(rows.size(), 2u);
  const json sweep = read_json(out_ / "sweep.json");
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const std::string batch = row.at("batch");
    EXPECT_EQ(batch, i == 0 ? "8" : "16");
    std::string plan_out;
    ASSERT_EQ(test::run_command(bin("train_knots") + " plan --model tiny --batch " + batch +
                                    " --device cpu --optimizer adagrad --image-shape 32,32,3 --json 2>/dev/null",
                                &plan_out),
              0)
        << plan_out;
    const json plan = json::parse(plan_out);
    EXPECT_EQ(row.at("plan_bytes"), std::to_string(plan.at("total_bytes").get<size_t>())) << "batch " << batch;
    EXPECT_EQ(row.at("plan_bytes_without_reuse"), std::to_string(plan.at("total_bytes_without_reuse").get<size_t>()));
    for (const char* policy : {"planned", "growth"}) {
      const std::string p = policy;
      EXPECT_GT(std::stoll(row.at(p + "_measured_peak_bytes")), 0) << p;  // the child's peak RSS
      EXPECT_GT(std::stod(row.at(p + "_images_per_s")), 0) << p;
      const int runs = std::stoi(row.at(p + "_search_runs"));
      EXPECT_GE(runs, 1);
      EXPECT_LE(runs, 2);  // --max-search-runs 2
      const json& pol = sweep.at("rows").at(i).at("policies").at(p);
      EXPECT_EQ(pol.at("run").at("status"), "completed");
      EXPECT_EQ(pol.at("run").at("memory_source"), "peak RSS (wait4)");
      // The training process planned exactly what `train_knots plan` printed.
      EXPECT_EQ(pol.at("run").at("summary").at("plan_bytes"), plan.at("total_bytes")) << p;
      EXPECT_EQ(pol.at("run").at("summary").at("alloc"), p);
    }
  }
  EXPECT_EQ(sweep.at("torch").at("status"), "not measured");
  EXPECT_THAT(sweep.at("torch").at("why").get<std::string>(), HasSubstr("--device cpu"));
  const std::string md = read_text(out_ / "memcap.md");
  EXPECT_THAT(md, HasSubstr("## Memory against batch size"));
  EXPECT_THAT(md, HasSubstr("PyTorch: not measured"));
  EXPECT_THAT(md, HasSubstr("peak resident memory"));                      // says how the CPU figures were measured
  EXPECT_THAT(md, HasSubstr("train_knots plan --model tiny --batch 16"));  // the exact commands
  if (test::run_command("command -v gnuplot") == 0) {
    EXPECT_TRUE(fs::exists(out_ / "memory_vs_batch.png"));
  }
}

TEST_F(memcap_cpu, TwoJobsRunsBothProcessesUnderEachPolicy) {
  run_two_jobs();
  ASSERT_EQ(two_rc_, 0) << two_log_;
  const json r = read_json(out_ / "two_jobs.json");
  ASSERT_EQ(r.at("policies").size(), 2u);
  for (const json& p : r.at("policies")) {
    ASSERT_EQ(p.at("jobs").size(), 2u) << p.dump(1);
    for (const json& j : p.at("jobs")) {
      EXPECT_EQ(j.at("status"), "completed") << j.dump(1);
      EXPECT_EQ(j.at("exit"), 0);
      EXPECT_TRUE(j.at("error").is_null());
      EXPECT_GT(j.at("memory_bytes").get<int64_t>(), 0);
      EXPECT_GT(j.at("images_per_second").get<double>(), 0);
      EXPECT_THAT(j.at("command").get<std::string>(), HasSubstr("--alloc " + p.at("policy").get<std::string>()));
    }
  }
  EXPECT_THAT(two_log_, HasSubstr("memcap: two-jobs growth B: completed"));
  const auto rows = read_csv(out_ / "two_jobs.csv");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].at("policy"), "planned");
  EXPECT_EQ(rows[0].at("job"), "A");
  EXPECT_EQ(rows[3].at("policy"), "growth");
  EXPECT_EQ(rows[3].at("status"), "completed");
}

TEST_F(memcap_cpu, ReportRebuildsTheMarkdownFromTheJson) {
  run_sweep();
  run_two_jobs();
  ASSERT_EQ(sweep_rc_, 0) << sweep_log_;
  ASSERT_EQ(two_rc_, 0) << two_log_;
  const std::string before = read_text(out_ / "memcap.md");
  EXPECT_THAT(before, HasSubstr("## Two training processes on one card"));
  EXPECT_THAT(before, HasSubstr("## Memory against batch size"));
  const std::string sweep_csv = read_text(out_ / "sweep.csv");
  fs::remove(out_ / "memcap.md");
  fs::remove(out_ / "sweep.csv");
  fs::remove(out_ / "two_jobs.csv");
  std::string log;
  ASSERT_EQ(test::run_command(bin("memcap") + " report --in " + out_.string(), &log), 0) << log;
  EXPECT_EQ(read_text(out_ / "memcap.md"), before);
  EXPECT_EQ(read_text(out_ / "sweep.csv"), sweep_csv);
  EXPECT_TRUE(fs::exists(out_ / "two_jobs.csv"));
  // A result that is not memcap's is refused, not half-reported.
  test::TempDir bad;
  std::ofstream(bad / "sweep.json") << "{\"rows\": 3}";
  EXPECT_NE(test::run_command(bin("memcap") + " report --in " + bad.path().string(), &log), 0);
  EXPECT_THAT(log, HasSubstr("not what memcap writes"));
}

// ---- bench/torch_memory.py --------------------------------------------------------------------

TEST(memcap_torch_memory, MeasuresOnAGpuOrExitsTwoSayingWhy) {
  // On a GPU its whole-process figure reads the card's used memory: other GPU tests running
  // beside it (a parallel ctest) would be counted, so it runs there only with the card alone.
  const char* alone = std::getenv("KNOTNET_MEMCAP_GPU");
  if (test::have_gpu() && (!alone || std::string(alone) != "1"))
    GTEST_SKIP() << "needs the GPU alone: set KNOTNET_MEMCAP_GPU=1";
  std::string python;
  ASSERT_EQ(test::run_command("bash " + (test::source_dir() / "scripts" / "find-python").string(), &python), 0);
  while (!python.empty() && (python.back() == '\n' || python.back() == ' ')) python.pop_back();
  if (test::run_command("test -x " + python) != 0) GTEST_SKIP() << "no Python interpreter (" << python << ")";
  test::TempDir dir;
  const std::string script = (test::source_dir() / "bench" / "torch_memory.py").string();
  std::string out;
  const int rc = test::run_command(
      python + " " + script + " --batches 8 16 --steps 2 --json " + (dir / "t.json").string(), &out);
  if (!test::have_gpu()) {
    EXPECT_EQ(rc, 2) << out;
    EXPECT_THAT(out, ::testing::ContainsRegex("torch_memory: (PyTorch is not importable|no CUDA device)"));
    EXPECT_FALSE(fs::exists(dir / "t.json"));
    return;
  }
  if (rc == 2) GTEST_SKIP() << "PyTorch cannot use the GPU here: " << out;
  ASSERT_EQ(rc, 0) << out;
  const json j = read_json(dir / "t.json");
  ASSERT_EQ(j.at("results").size(), 2u);
  for (const json& r : j.at("results")) {
    EXPECT_GT(r.at("peak_allocated_bytes").get<int64_t>(), 0);
    EXPECT_GE(r.at("peak_reserved_bytes").get<int64_t>(), r.at("peak_allocated_bytes").get<int64_t>());
    EXPECT_GE(r.at("process_bytes").get<int64_t>(), r.at("peak_reserved_bytes").get<int64_t>());
  }
  EXPECT_GT(j.at("results").at(1).at("peak_allocated_bytes").get<int64_t>(),
            j.at("results").at(0).at("peak_allocated_bytes").get<int64_t>());
}

// ---- on the GPU --------------------------------------------------------------------------------

// These need the card to themselves (preallocate takes all of it; budgets are compared with its
// free memory), so they run only when KNOTNET_MEMCAP_GPU=1 says nothing else runs beside them:
// scripts/gpu-memcap runs them that way, after its experiments, not inside a parallel ctest.
class MemcapGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_gpu()) GTEST_SKIP() << "no GPU";
    const char* alone = std::getenv("KNOTNET_MEMCAP_GPU");
    if (!alone || std::string(alone) != "1") GTEST_SKIP() << "needs the GPU alone: set KNOTNET_MEMCAP_GPU=1";
    std::string log;
    ASSERT_EQ(
        test::run_command(
            bin("make_knots") + " --out " + (dir_ / "k64.h5").string() + " --per-class 1500 --size 64 --seed 7", &log),
        0)
        << log;
  }
  test::TempDir dir_;
};
using memcap_gpu = MemcapGpu;

// TensorFlow's default reproduced: the first process takes the card, the second cannot start;
// knotnet's plan lets both train. At batch 1024 the 64 px seed model plans about 2.7 GiB, well
// over what the second process can find beside the first's preallocation (TensorFlow's 1800 MiB
// reserve, less the second's own context and its 225 MiB reserve); 30 short epochs keep A
// running when B starts.
TEST_F(memcap_gpu, PreallocateStopsTheSecondJobAndPlannedRunsBoth) {
  std::string log;
  ASSERT_EQ(
      test::run_command(bin("memcap") + " two-jobs --data " + (dir_ / "k64.h5").string() +
                            " --model seed --batch 1024 --steps 20 --epochs 30 --policies preallocate,planned --out " +
                            (dir_ / "two").string(),
                        &log),
      0)
      << log;
  const json r = read_json(dir_ / "two" / "two_jobs.json");
  ASSERT_EQ(r.at("policies").size(), 2u);
  const json& pre = r.at("policies").at(0);
  const json& planned = r.at("policies").at(1);
  ASSERT_TRUE(pre.at("a_running_when_b_started").get<bool>()) << "A ended before B started; the run is too short\n"
                                                              << log;
  EXPECT_EQ(pre.at("jobs").at(0).at("status"), "completed") << pre.dump(1);
  EXPECT_EQ(pre.at("jobs").at(1).at("status"), "failed") << pre.dump(1);
  EXPECT_FALSE(pre.at("jobs").at(1).at("error").get<std::string>().empty());
  ASSERT_TRUE(planned.at("a_running_when_b_started").get<bool>()) << log;
  EXPECT_EQ(planned.at("jobs").at(0).at("status"), "completed") << planned.dump(1);
  EXPECT_EQ(planned.at("jobs").at(1).at("status"), "completed") << planned.dump(1);
  EXPECT_EQ(planned.at("jobs").at(0).at("memory_source"), "NVML per-process peak");
}

TEST_F(memcap_gpu, SweepMeasuresThePlanAndFindsTheSmallestBudget) {
  std::string log;
  const fs::path out = dir_ / "sweep";
  ASSERT_EQ(
      test::run_command(
          bin("memcap") + " sweep --data " + (dir_ / "k64.h5").string() +
              " --model seed --batches 32,64 --steps 3 --policies planned --torch none --max-search-runs 10 --out " +
              out.string(),
          &log),
      0)
      << log;
  const json r = read_json(out / "sweep.json");
  for (const json& row : r.at("rows")) {
    std::string plan_out;
    ASSERT_EQ(test::run_command(bin("train_knots") + " plan --model seed --batch " +
                                    std::to_string(row.at("batch").get<int>()) +
                                    " --device cuda --optimizer adagrad --image-shape 64,64,3 --json 2>/dev/null",
                                &plan_out),
              0);
    EXPECT_EQ(row.at("plan_bytes"), json::parse(plan_out).at("total_bytes"));
    const json& planned = row.at("policies").at("planned");
    ASSERT_EQ(planned.at("run").at("status"), "completed") << planned.dump(1);
    // The process holds at least its plan; NVML saw it.
    EXPECT_GE(planned.at("measured_peak_bytes").get<int64_t>(), row.at("plan_bytes").get<int64_t>());
    EXPECT_TRUE(planned.at("search").at("converged").get<bool>()) << planned.at("search").dump(1);
    EXPECT_TRUE(planned.at("search").at("largest_fail_bytes").is_number()) << "the budget must bind on the GPU";
  }
}

}  // namespace
}  // namespace knotnet
