// memcap: the GPU memory experiments (issue 6, docs/memcap.md). It starts train_knots
// processes under each allocation policy and measures them from outside:
//   memcap two-jobs --data FILE   two training processes on one card, per policy
//   memcap sweep --data FILE      memory against batch size, knotnet's policies and PyTorch
//   memcap report --in DIR        the Markdown, CSV and PNG from the raw results in DIR
#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <exception>

#include "apps/memcap/experiments.h"
#include "apps/memcap/report.h"
#include "apps/memcap/train_knots_runs.h"
#include "engine/error.h"

namespace {

using namespace knotnet::memcap;

std::string default_out_dir() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "runs/memcap-%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

void add_common(CLI::App* sub, CommonFlags& c) {
  sub->add_option("--data", c.data, "HDF5 file of images and labels to train on (e.g. from make_knots)")->required();
  sub->add_option("--model", c.model, "named spec (seed, small, tiny) or spec file")->capture_default_str();
  sub->add_option("--optimizer", c.optimizer, "optimizer of every run (its state is part of the memory)")
      ->capture_default_str()
      ->check(CLI::IsMember({"sgd", "adagrad", "rmsprop", "adam"}));
  sub->add_option("--lr", c.lr, "learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--device", c.device, "cuda, or cpu (memory then measured as peak RSS)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cuda", "cpu"}));
  sub->add_option("--split", c.split, "train,validation,test fractions passed to train_knots fit");
  sub->add_option("--threads", c.threads, "reader threads of each training process (0: all cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--out", c.out,
                  "directory for the raw results (JSON) and the report (default: runs/memcap-<date-time>)");
  sub->add_option("--work", c.work, "directory for the training processes' own outputs and logs (default: OUT/runs)");
  sub->add_option("--train-knots", c.train_knots, "the train_knots program (default: the one beside memcap)");
  sub->add_option("--run-timeout", c.run_timeout_s, "seconds one training process may take before it is stopped")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--deadline", c.deadline_s,
                  "seconds the whole experiment may take (0: no limit); runs are cut to what is left, and skipped "
                  "(and reported so) when little is left")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

// Fills what the flags leave to defaults.
void finish_common(CommonFlags& c, int argc, char** argv) {
  c.argv.assign(argv, argv + argc);
  c.train_knots = find_train_knots(c.train_knots, argv[0]);
  if (c.out.empty()) c.out = default_out_dir();
  if (c.work.empty()) c.work = (std::filesystem::path(c.out) / "runs").string();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "memcap: GPU memory experiments with train_knots: two jobs on one card under each allocation policy, "
      "and memory against batch size beside PyTorch (docs/memcap.md)"};
  app.require_subcommand(1);

  TwoJobsFlags two;
  CLI::App* two_cmd = app.add_subcommand(
      "two-jobs",
      "for each policy, start training process A, wait until it trains, then start B with the same policy: which "
      "start, which fail and why, the memory each holds and the throughput of each");
  add_common(two_cmd, two.common);
  two_cmd->add_option("--batch", two.batch, "batch size of both processes")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  two_cmd->add_option("--steps", two.steps, "at most this many updates per epoch (fit --steps-per-epoch)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  two_cmd->add_option("--epochs", two.epochs, "epochs of each process (more keeps A running longer beside B)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  two_cmd->add_option("--policies", two.policies, "allocation policies to try, comma-separated (fit --alloc)")
      ->capture_default_str();
  two_cmd
      ->add_option("--ready-timeout", two.ready_timeout_s,
                   "seconds to wait for A to be training before B is started anyway")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  two_cmd
      ->add_option("--alloc-grace", two.alloc_grace_s,
                   "seconds after A reports its memory allocated to start B even if no batches.csv row has appeared")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);

  SweepFlags sweep;
  CLI::App* sweep_cmd = app.add_subcommand(
      "sweep",
      "for each batch size: the planned bytes, the measured peak, the smallest --gpu-mem that trains for each policy, "
      "and PyTorch's peak allocated and reserved memory for the same model on the same card");
  add_common(sweep_cmd, sweep.common);
  sweep_cmd->add_option("--batches", sweep.batches, "batch sizes, comma-separated")->capture_default_str();
  sweep_cmd->add_option("--policies", sweep.policies, "allocation policies, comma-separated")->capture_default_str();
  sweep_cmd->add_option("--steps", sweep.steps, "updates per run (fit --steps-per-epoch, one epoch)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sweep_cmd->add_option("--torch", sweep.torch, "Python with PyTorch for the comparison, or 'none'")
      ->capture_default_str();
  sweep_cmd->add_option("--torch-script", sweep.torch_script,
                        "bench/torch_memory.py (default: found from the current directory or from memcap's)");
  sweep_cmd->add_flag("--torch-cudnn-benchmark", sweep.torch_cudnn_benchmark,
                      "let PyTorch's cuDNN benchmark algorithms (larger workspaces; off by default)");
  sweep_cmd->add_option("--resolution-mib", sweep.resolution_mib, "the smallest budget is found to this many MiB")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sweep_cmd
      ->add_option("--max-search-runs", sweep.max_search_runs,
                   "training runs allowed to find each smallest budget (0: no search)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);

  std::string report_dir;
  CLI::App* report_cmd = app.add_subcommand(
      "report", "write memcap.md, two_jobs.csv, sweep.csv and memory_vs_batch.png from the raw results in a directory");
  report_cmd->add_option("--in", report_dir, "the --out directory of two-jobs and/or sweep")->required();

  CLI11_PARSE(app, argc, argv);
  try {
    if (two_cmd->parsed()) {
      finish_common(two.common, argc, argv);
      const int rc = run_two_jobs(two);
      std::fprintf(stderr, "memcap: wrote %s/memcap.md\n", two.common.out.c_str());
      return rc;
    }
    if (sweep_cmd->parsed()) {
      finish_common(sweep.common, argc, argv);
      const int rc = run_sweep(sweep);
      std::fprintf(stderr, "memcap: wrote %s/memcap.md\n", sweep.common.out.c_str());
      return rc;
    }
    if (report_cmd->parsed()) {
      write_report(report_dir);
      std::fprintf(stderr, "memcap: wrote %s/memcap.md\n", report_dir.c_str());
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "memcap: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
