// train_knots end to end on the CPU with small make_knots files: a run writes every output,
// its CSV and JSON parse, a run killed with SIGKILL mid-epoch and resumed ends with the same
// weights as an uninterrupted one (bit-identical; on a GPU too, with convolutions chosen by
// heuristics, where one is present), early stopping triggers, evaluate reproduces
// the test accuracy from the checkpoint, and bad flags get clear messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/cuda_context.h"
#include "io/checkpoint.h"
#include "tests/support/test_support.h"

namespace knotnet {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string bin(const std::string& name) { return (test::binary_dir() / "bin" / name).string(); }

// One small class-sorted file shared by the tests of this binary.
class TrainKnots : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    data_ = (dir_->path() / "knots32.h5").string();
    std::string out;
    ASSERT_EQ(test::run_command(bin("make_knots") + " --out " + data_ + " --per-class 120 --size 32 --seed 5 --threads 2", &out), 0) << out;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

 public:
  // The fit command line every test starts from: the tiny model on the shared file.
  static std::string fit(const std::string& out_dir, const std::string& extra = "") {
    return bin("train_knots") + " fit --data " + data_ + " --model tiny --batch 16 --seed 3 --threads 1 --out " +
           out_dir + " " + extra;
  }

 protected:
  static test::TempDir* dir_;
  static std::string data_;
};
test::TempDir* TrainKnots::dir_ = nullptr;
std::string TrainKnots::data_;

nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

std::vector<char> weights(const fs::path& checkpoint) {
  auto m = model_from_checkpoint(checkpoint.string(), 16, Device::cpu);
  const Tensor& t = m->flat_parameters();
  const char* p = static_cast<const char*>(t.data);
  std::vector<char> all(p, p + t.bytes());
  const Tensor& s = m->flat_statistics();
  all.insert(all.end(), static_cast<const char*>(s.data), static_cast<const char*>(s.data) + s.bytes());
  return all;
}

TEST_F(TrainKnots, RunWritesEveryOutputAndTheyParse) {
  fs::path out = dir_->path() / "run";
  std::string log;
  ASSERT_EQ(test::run_command(fit(out.string(), "--epochs 3 --json"), &log), 0) << log;
  for (const char* f : {"run.json", "last.h5", "best.h5", "history.csv", "summary.json"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  if (test::run_command("command -v gnuplot") == 0) {
    EXPECT_TRUE(fs::exists(out / "history.png"));
  }
  std::ifstream csv(out / "history.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header, "epoch,loss,acc,val_loss,val_acc,lr,images_per_s,seconds");
  int rows = 0;
  while (std::getline(csv, line)) {
    ++rows;
    EXPECT_EQ(std::count(line.begin(), line.end(), ','), 7) << line;
  }
  EXPECT_EQ(rows, 3);
  nlohmann::json s = read_json(out / "summary.json");
  EXPECT_EQ(s["status"], "completed");
  EXPECT_EQ(s["epochs_run"], 3);
  EXPECT_TRUE(s["silent_units"].is_null());  // 48 steps: shorter than the census window
  EXPECT_EQ(s["test"]["count"], 54);  // 15% of 120 per class
  EXPECT_EQ(s["test"]["classes"][1], "plus_trefoil");
  // --json printed the same summary on stdout (after the progress on stderr).
  EXPECT_THAT(log, HasSubstr("\"status\": \"completed\""));
  EXPECT_THAT(log, HasSubstr("confusion matrix"));
  // evaluate reproduces the test accuracy from the final weights.
  std::string eval;
  // (run_command adds 2>&1: the subshell keeps stderr's notes out of the JSON)
  ASSERT_EQ(test::run_command("(" + bin("train_knots") + " evaluate --checkpoint " + (out / "last.h5").string() +
                                  " --data " + data_ + " --part test --seed 3 --json 2>/dev/null)",
                              &eval),
            0)
      << eval;
  nlohmann::json e = nlohmann::json::parse(eval);
  EXPECT_EQ(e["accuracy"], s["test"]["accuracy"]);
  EXPECT_EQ(e["confusion"], s["test"]["confusion"]);
  // Without --seed, evaluate takes the run's split from its run.json (evaluate's own default
  // seed, 42, would pick other test images than fit's --seed 3)...
  std::string note;
  eval.clear();  // run_command appends
  ASSERT_EQ(test::run_command("(" + bin("train_knots") + " evaluate --checkpoint " + (out / "last.h5").string() +
                                  " --data " + data_ + " --part test --json 2>" + (out / "note.txt").string() + ")",
                              &eval),
            0)
      << eval;
  EXPECT_EQ(nlohmann::json::parse(eval)["confusion"], s["test"]["confusion"]);
  {
    std::ifstream in(out / "note.txt");
    note.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  EXPECT_THAT(note, HasSubstr("--split 70,15,15 (" + (out / "run.json").string() + ") --seed 3 (" +
                              (out / "run.json").string() + ")"));
  // A split other than evaluate's default is taken from run.json too.
  fs::path other = dir_->path() / "other_split";
  ASSERT_EQ(test::run_command(fit(other.string(), "--epochs 1 --split 60,20,20"), &log), 0) << log;
  eval.clear();
  ASSERT_EQ(test::run_command("(" + bin("train_knots") + " evaluate --checkpoint " + (other / "last.h5").string() +
                                  " --data " + data_ + " --part test --json 2>/dev/null)",
                              &eval),
            0)
      << eval;
  EXPECT_EQ(nlohmann::json::parse(eval)["count"], read_json(other / "summary.json")["test"]["count"]);
  EXPECT_EQ(nlohmann::json::parse(eval)["count"], 72);  // 20% of 120 per class
  // ...and from the checkpoint's own seed where the checkpoint was copied away from its run.
  fs::create_directories(dir_->path() / "copied");
  fs::copy_file(out / "last.h5", dir_->path() / "copied" / "last.h5", fs::copy_options::overwrite_existing);
  eval.clear();
  ASSERT_EQ(test::run_command("(" + bin("train_knots") + " evaluate --checkpoint " +
                                  (dir_->path() / "copied" / "last.h5").string() + " --data " + data_ +
                                  " --part test --json 2>/dev/null)",
                              &eval),
            0)
      << eval;
  EXPECT_EQ(nlohmann::json::parse(eval)["confusion"], s["test"]["confusion"]);
  // predict writes one row per image.
  std::string pred_log;
  ASSERT_EQ(test::run_command(bin("train_knots") + " predict --checkpoint " + (out / "last.h5").string() + " --data " +
                                  data_ + " --out " + (out / "p.csv").string(),
                              &pred_log),
            0)
      << pred_log;
  std::ifstream p(out / "p.csv");
  int lines = 0;
  for (std::string l; std::getline(p, l);) ++lines;
  EXPECT_EQ(lines, 361);
}

// Trains 4 epochs whole, and again killed (SIGKILL) in the middle of epoch 2 and resumed; the two
// must end with the same weights, bit for bit, and the same step-by-step log. `device` is fit's
// flags for the device (the resume names --device again: it is not taken from run.json, so that
// a run may move between machines).
void expect_killed_run_resumes_to_the_same_weights(const fs::path& dir, const std::string& run_flags,
                                                   const std::string& device) {
  fs::path whole = dir / "whole", killed = dir / "killed";
  std::string log;
  ASSERT_EQ(test::run_command(TrainKnots::fit(whole.string(), "--epochs 4 " + run_flags + " " + device), &log),
            0)
      << log;
  // 252 training images at batch 16: 16 steps an epoch. Die at step 24, in the middle of epoch 2.
  int rc = test::run_command(
      "KNOTNET_TEST_KILL_AT_STEP=24 " + TrainKnots::fit(killed.string(), "--epochs 4 " + run_flags + " " + device),
      &log);
  ASSERT_EQ(rc, 128 + 9) << "expected death by SIGKILL\n" << log;
  ASSERT_EQ(read_checkpoint_info((killed / "last.h5").string()).epoch, 1);
  ASSERT_EQ(test::run_command(bin("train_knots") + " fit --resume " + killed.string() + " " + device, &log), 0) << log;
  EXPECT_THAT(log, HasSubstr("resuming"));
  EXPECT_EQ(read_checkpoint_info((killed / "last.h5").string()).epoch, 4);
  EXPECT_EQ(weights(whole / "last.h5"), weights(killed / "last.h5"));
  // The resumed history holds all four epochs, as the uninterrupted one does.
  std::ifstream a(whole / "history.csv"), b(killed / "history.csv");
  int rows_a = 0, rows_b = 0;
  for (std::string l; std::getline(a, l);) ++rows_a;
  for (std::string l; std::getline(b, l);) ++rows_b;
  EXPECT_EQ(rows_a, 5);
  EXPECT_EQ(rows_b, 5);
  // batches.csv: the rows of the epoch cut short are dropped and written again on resume, so
  // the two runs' step-by-step logs are the same, byte for byte.
  auto slurp = [](const fs::path& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  const std::string steps_whole = slurp(whole / "batches.csv"), steps_killed = slurp(killed / "batches.csv");
  EXPECT_EQ(std::count(steps_whole.begin(), steps_whole.end(), '\n'), 1 + 4 * 16);
  EXPECT_EQ(steps_whole, steps_killed);
}

// On the CPU, named: bit-identity is the CPU's promise. Left to --device auto, the GPU machine
// trained this on CUDA and the resumed run's losses differed in the sixth decimal (H100,
// 2026-11-27; the GPU case below tests the likely cause).
TEST_F(TrainKnots, KilledRunResumesToTheSameWeights) {
  fs::create_directories(dir_->path() / "resume_cpu");
  expect_killed_run_resumes_to_the_same_weights(dir_->path() / "resume_cpu", "", "--device cpu");
}

// On the GPU, with the convolutions chosen by cuDNN's heuristics (the same in every process, and
// deterministic algorithms preferred) rather than timed afresh by each process, a resumed run
// should be bit-identical too, as long as the heuristics give this small model deterministic
// algorithms (fit prints the choice; the other GPU kernels are deterministic). Not yet run on a GPU.
TEST_F(TrainKnots, KilledGpuRunWithHeuristicConvolutionsResumesToTheSameWeights) {
  if (!cuda_device_present()) GTEST_SKIP() << "no CUDA device present";
  fs::create_directories(dir_->path() / "resume_gpu");
  expect_killed_run_resumes_to_the_same_weights(dir_->path() / "resume_gpu", "--conv-algo heuristic", "--device cuda");
}

TEST_F(TrainKnots, ResumeTakesTheRunsSettingsAndSavesANewEpochCount) {
  fs::path out = dir_->path() / "extend";
  std::string log;
  ASSERT_EQ(test::run_command(fit(out.string(), "--epochs 1"), &log), 0) << log;
  const std::string resume = bin("train_knots") + " fit --resume " + out.string();
  EXPECT_NE(test::run_command(resume + " --lr 0.5", &log), 0);
  EXPECT_THAT(log, HasSubstr("--lr cannot change a run being resumed"));
  ASSERT_EQ(test::run_command(resume + " --epochs 2", &log), 0) << log;
  EXPECT_EQ(read_json(out / "run.json")["flags"]["epochs"], 2);
  EXPECT_EQ(read_checkpoint_info((out / "last.h5").string()).epoch, 2);
  // A later resume without --epochs trains nothing more: the run is complete at 2.
  ASSERT_EQ(test::run_command(resume, &log), 0) << log;
  EXPECT_EQ(read_checkpoint_info((out / "last.h5").string()).epoch, 2);
}

// --nondeterministic lets GPU convolutions take cuDNN's non-deterministic algorithms; it is a
// setting of the run (run.json), so a resumed run keeps it.
TEST_F(TrainKnots, NondeterministicIsRecordedAndKeptOnResume) {
  fs::path out = dir_->path() / "nondet";
  std::string log;
  ASSERT_EQ(test::run_command(fit(out.string(), "--epochs 1"), &log), 0) << log;
  EXPECT_EQ(read_json(out / "summary.json")["cudnn_deterministic"], true);
  fs::path other = dir_->path() / "nondet2";
  ASSERT_EQ(test::run_command(fit(other.string(), "--epochs 1 --nondeterministic"), &log), 0) << log;
  EXPECT_EQ(read_json(other / "run.json")["flags"]["nondeterministic"], true);
  EXPECT_EQ(read_json(other / "summary.json")["cudnn_deterministic"], false);
  ASSERT_EQ(test::run_command(bin("train_knots") + " fit --resume " + other.string() + " --epochs 2", &log), 0) << log;
  EXPECT_EQ(read_json(other / "summary.json")["cudnn_deterministic"], false);
}

TEST_F(TrainKnots, EarlyStoppingTriggers) {
  fs::path out = dir_->path() / "early";
  std::string log;
  ASSERT_EQ(test::run_command(fit(out.string(), "--epochs 10 --early-stopping 2 --early-stopping-min-delta 10"), &log), 0)
      << log;
  EXPECT_THAT(log, HasSubstr("early stopping after epoch 3"));
  EXPECT_EQ(read_json(out / "summary.json")["status"], "stopped_early");
  EXPECT_EQ(read_json(out / "summary.json")["epochs_run"], 3);
}

// growth takes one allocation per buffer and shares none across lifetimes: it holds more than
// the plan; --steps-per-epoch caps each epoch's updates.
TEST_F(TrainKnots, GrowthHoldsEveryBufferApartAndStepsPerEpochCapsUpdates) {
  fs::path planned = dir_->path() / "planned", growth = dir_->path() / "growth";
  std::string log;
  ASSERT_EQ(test::run_command(fit(planned.string(), "--epochs 2 --steps-per-epoch 3 --device cpu"), &log), 0) << log;
  ASSERT_EQ(test::run_command(fit(growth.string(), "--epochs 2 --steps-per-epoch 3 --device cpu --alloc growth"), &log), 0)
      << log;
  nlohmann::json p = read_json(planned / "summary.json"), g = read_json(growth / "summary.json");
  EXPECT_EQ(p["alloc"], "planned");
  EXPECT_EQ(g["alloc"], "growth");
  EXPECT_EQ(p["held_bytes"], p["plan_bytes"]);
  EXPECT_GT(g["held_bytes"].get<size_t>(), g["plan_bytes"].get<size_t>());
  // The same updates either way: the policy changes where buffers live, not what is computed.
  EXPECT_EQ(weights(planned / "last.h5"), weights(growth / "last.h5"));
  std::ifstream batches(planned / "batches.csv");
  std::string line;
  int rows = -1;  // the header
  while (std::getline(batches, line)) ++rows;
  EXPECT_EQ(rows, 6);
}

// Adam at lr 0.05 kills some of tiny's 16 dense_1 units within 400 steps (this file, seed 3):
// fit warns and records the census in summary.json, and evaluate reads the same census from the
// checkpoint's optimizer state.
TEST_F(TrainKnots, DeadUnitsAreCountedAndWarnedAbout) {
  fs::path out = dir_->path() / "dead";
  std::string log;
  ASSERT_EQ(test::run_command(fit(out.string(), "--epochs 25 --lr 0.05"), &log), 0) << log;  // 16 steps an epoch
  EXPECT_THAT(log, HasSubstr("units have had no gradient on any image"));
  nlohmann::json s = read_json(out / "summary.json");
  ASSERT_TRUE(s["silent_units"].is_object()) << s.dump();
  EXPECT_EQ(s["silent_units"]["step"], 400);
  EXPECT_EQ(s["silent_units"]["window_steps"], 372);
  const nlohmann::json& layers = s["silent_units"]["layers"];
  ASSERT_EQ(layers.size(), 4u);
  EXPECT_EQ(layers[2]["layer"], "dense_1");
  EXPECT_EQ(layers[2]["units"], 16);
  EXPECT_GE(layers[2]["silent"].get<int>(), 4);  // the warning's threshold: a quarter
  EXPECT_THAT(log, HasSubstr("warning: dense_1: " + std::to_string(layers[2]["silent"].get<int>()) + " of 16"));
  std::string eval;
  ASSERT_EQ(test::run_command("(" + bin("train_knots") + " evaluate --checkpoint " + (out / "last.h5").string() +
                                  " --data " + data_ + " --json 2>/dev/null)",
                              &eval),
            0)
      << eval;
  EXPECT_EQ(nlohmann::json::parse(eval)["silent_units"], s["silent_units"]);
}

TEST_F(TrainKnots, ShuffleNoneWarns) {
  std::string log;
  ASSERT_EQ(test::run_command(fit((dir_->path() / "noshuffle").string(), "--epochs 1 --shuffle none"), &log), 0) << log;
  EXPECT_THAT(log, HasSubstr("warning: --shuffle none"));
}

TEST_F(TrainKnots, BadFlagsGetClearMessages) {
  struct Case {
    std::string args, message;
  };
  std::vector<Case> cases = {
      {"fit --data " + data_ + " --bogus", "--bogus"},
      {"fit --model tiny", "--data FILE is required"},
      {"fit --data /nonexistent/file.h5", "/nonexistent/file.h5"},
      {"fit --data " + data_ + " --optimizer adamw", "adamw"},
      {"fit --data " + data_ + " --batch 0", "--batch"},
      {"fit --data " + data_ + " --split 0,50,50", "split"},
      {"fit --data " + data_ + " --shuffle sometimes", "sometimes"},
      {"fit --data " + data_ + " --gpu-mem lots --device cpu", "lots"},
      {"fit --data " + data_ + " --device tpu", "tpu"},
      {"fit --data " + data_ + " --alloc lavish", "--alloc 'lavish'"},
      {"fit --data " + data_ + " --conv-algo fastest", "fastest"},
      {"fit --data " + data_ + " --alloc fraction=1.5", "in (0, 1]"},
      {"fit --data " + data_ + " --alloc preallocate --device cpu", "needs a GPU"},
      {"fit --data " + data_ + " --alloc fraction=0.5 --gpu-mem 1GiB", "sizes its own block"},
      {"fit --data " + data_ + " --steps-per-epoch -1", "--steps-per-epoch"},
      {"fit --data " + data_ + " --model nosuchspec", "neither a named spec"},
      {"fit --resume " + dir_->path().string(), "no run.json"},
      {"evaluate --data " + data_, "--checkpoint"},
      {"predict --checkpoint x.h5 --data " + data_ + " --out p.txt", ".csv or .h5"},
  };
  for (const Case& c : cases) {
    std::string out;
    int rc = test::run_command(bin("train_knots") + " " + c.args, &out);
    EXPECT_NE(rc, 0) << c.args;
    EXPECT_THAT(out, HasSubstr(c.message)) << c.args;
  }
  // A model with the wrong number of classes is refused before training, naming the fix.
  fs::path spec = dir_->path() / "two.spec";
  std::ofstream(spec) << "input 32 32 3\nconv 4 3 same\nflatten\ndense 2\nsoftmax\n";
  std::string out;
  EXPECT_NE(test::run_command(bin("train_knots") + " fit --data " + data_ + " --model " + spec.string(), &out), 0);
  EXPECT_THAT(out, HasSubstr("'dense 3'"));
}

}  // namespace
}  // namespace knotnet
