// train_knots fit (also the default: `train_knots --data FILE`): trains a model on an HDF5 file
// with a seeded stratified split, shuffled batches from the background reader, Keras-style
// progress and callbacks, checkpoints every epoch, and a final test evaluation. Everything a run
// needs to continue after a crash is in its output directory: run.json (the flags), last.h5
// (weights, optimizer state, step, history, callback counters) — `--resume DIR` picks it up.
#include <unistd.h>


#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "apps/train_knots/command.h"
#include "apps/train_knots/data_sources.h"
#include "apps/train_knots/device_options.h"
#include "apps/train_knots/observers.h"
#include "apps/train_knots/progress.h"
#include "apps/train_knots/report.h"
#include "apps/train_knots/run_outputs.h"
#include "apps/train_knots/run_state.h"
#include "engine/budget.h"
#include "engine/budget_fit.h"
#include "engine/callbacks.h"
#include "engine/cuda_context.h"
#include "engine/layers/conv.h"
#include "engine/model.h"
#include "io/checkpoint.h"

namespace knotnet::app {
namespace {

// The line fit prints under the model's when it checked a budget: "budget 2.00 GiB, needed ...
// with <convolutions>: fits; the largest batch that would fit is N".
std::string budget_verdict(const BudgetCheck& c, const std::string& convolutions) {
  return detail::concat("budget ", format_bytes(c.budget), ", needed ", format_bytes(c.needed),
                        " (plan + CUDA context) with ", convolutions, ": fits; the largest batch that would fit is ",
                        c.largest_batch);
}

namespace fs = std::filesystem;

struct FitFlags {
  DataFlags data;
  std::string model = "seed";
  int64_t epochs = 10;
  int64_t batch = 128;
  std::string optimizer = "adam";
  double lr = -1;
  double momentum = 0;
  std::string split = "70,15,15";
  uint64_t seed = 42;
  std::string shuffle = "window";
  std::string device = "auto";
  std::string gpu_mem;
  std::string alloc = "planned";
  int64_t steps_per_epoch = 0;
  bool tf32 = false;
  std::string conv_algo = "measured";
  bool nondeterministic = false;
  std::string out;
  std::string resume;
  bool json = false;
  int early_stopping = 0;
  double early_stopping_min_delta = 0;
  bool restore_best = false;
  int reduce_lr_patience = 0;
  double reduce_lr_factor = 0.1;
  double min_lr = 0;
  int threads = 0;
};

nlohmann::json flags_json(const FitFlags& f) {
  return {{"data", f.data.path},
          {"model", f.model},
          {"epochs", f.epochs},
          {"batch", f.batch},
          {"optimizer", f.optimizer},
          {"lr", f.lr},
          {"momentum", f.momentum},
          {"split", f.split},
          {"seed", f.seed},
          {"shuffle", f.shuffle},
          {"device", f.device},
          {"gpu_mem", f.gpu_mem},
          {"alloc", f.alloc},
          {"steps_per_epoch", f.steps_per_epoch},
          {"tf32", f.tf32},
          {"conv_algo", f.conv_algo},
          {"nondeterministic", f.nondeterministic},
          {"image_shape", f.data.image_shape},
          {"data_dataset", f.data.data_dataset},
          {"label_dataset", f.data.label_dataset},
          {"early_stopping", f.early_stopping},
          {"early_stopping_min_delta", f.early_stopping_min_delta},
          {"restore_best_weights", f.restore_best},
          {"reduce_lr_patience", f.reduce_lr_patience},
          {"reduce_lr_factor", f.reduce_lr_factor},
          {"min_lr", f.min_lr}};
}

void flags_from_json(const nlohmann::json& j, FitFlags& f) {
  f.data.path = j.at("data");
  f.model = j.at("model");
  f.epochs = j.at("epochs");
  f.batch = j.at("batch");
  f.optimizer = j.at("optimizer");
  f.lr = j.at("lr");
  f.momentum = j.at("momentum");
  f.split = j.at("split");
  f.seed = j.at("seed");
  f.shuffle = j.at("shuffle");
  f.gpu_mem = j.at("gpu_mem");
  f.alloc = j.value("alloc", std::string("planned"));  // runs from before --alloc existed
  f.steps_per_epoch = j.value("steps_per_epoch", int64_t(0));
  f.tf32 = j.value("tf32", false);
  f.conv_algo = j.value("conv_algo", std::string("measured"));  // runs from before --conv-algo existed
  f.nondeterministic = j.value("nondeterministic", false);
  f.data.image_shape = j.at("image_shape");
  f.data.data_dataset = j.at("data_dataset");
  f.data.label_dataset = j.at("label_dataset");
  f.early_stopping = j.at("early_stopping");
  f.early_stopping_min_delta = j.at("early_stopping_min_delta");
  f.restore_best = j.at("restore_best_weights");
  f.reduce_lr_patience = j.at("reduce_lr_patience");
  f.reduce_lr_factor = j.at("reduce_lr_factor");
  f.min_lr = j.at("min_lr");
}

std::string default_out_dir() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "runs/%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

// Writes history.csv and history.png after every epoch.
class HistoryFiles : public Callback {
 public:
  HistoryFiles(std::string dir, RunState& run, std::string title) : dir_(std::move(dir)), run_(run), title_(std::move(title)) {}
  const char* name() const override { return "history_files"; }
  void on_epoch_end(const EpochLog&, Model&, bool&) override {
    std::string csv = (fs::path(dir_) / "history.csv").string();
    write_history_csv(csv, run_.history);
    plot_history(csv, (fs::path(dir_) / "history.png").string(), title_);
  }
  nlohmann::json state() const override { return nlohmann::json::object(); }
  void restore(const nlohmann::json&) override {}

 private:
  std::string dir_;
  RunState& run_;
  std::string title_;
};

// Builds the allocating model. Under a small workspace limit cuDNN may offer no algorithm for
// some convolution, or none within the limit at every batch size, and only the allocating model
// asks it (NoCudnnAlgorithm). Then the budget's later rungs that fit are tried in order; with
// none left (or under --alloc growth, which takes no plan-wide check), every convolution goes to
// the implicit GEMM if that plan fits the budget too. Nothing is allocated before a model builds.
// `mopt` and `budget_line` end as the model built's.
std::unique_ptr<Model> build_model(const ModelSpec& spec, ModelOptions& mopt, const Shape& input,
                                   const std::vector<BudgetFit::Fallback>& fallbacks, const MemoryBudget& limit,
                                   const DeviceMemory& dev, std::string& budget_line) {
  for (size_t rung = 0;; ++rung) {
    try {
      return std::make_unique<Model>(spec, mopt, input);
    } catch (const NoCudnnAlgorithm& e) {
      BudgetFit::Fallback next;
      if (rung < fallbacks.size()) {
        next = fallbacks[rung];
      } else {
        if (mopt.device != Device::cuda || mopt.all_conv_implicit) throw;
        next = {mopt, kImplicitChoice};
        next.options.all_conv_implicit = true;
      }
      next.options.batch = mopt.batch;
      const BudgetCheck c = check_rung(spec, next.options, input, limit, dev);
      KN_CHECK(c.fits, e.what(), "\nand with ", next.choice, " instead:\n", c.report);
      if (next.options.all_conv_implicit)
        std::fprintf(stderr, "note: %s\nnote: every convolution runs on the implicit GEMM instead\n", e.what());
      else
        std::fprintf(stderr, "note: %s\nnote: trying %s instead\n", e.what(), next.choice.c_str());
      if (!budget_line.empty()) budget_line = budget_verdict(c, next.choice);
      mopt = next.options;
      mopt.allocate = true;
    }
  }
}

int run_fit(FitFlags f, const std::vector<std::string>& given) {
  auto was_given = [&](const std::string& flag) { return std::find(given.begin(), given.end(), flag) != given.end(); };
  ModelSpec spec;
  if (!f.resume.empty()) {
    // Continue a run: its flags and its spec come from run.json; --epochs may extend it.
    for (const std::string& g : given)
      KN_CHECK(g == "--resume" || g == "--epochs" || g == "--device" || g == "--threads" || g == "--json", "--resume ",
               f.resume, ": ", g, " cannot change a run being resumed (its settings come from its run.json); only "
               "--epochs, --device, --threads and --json may be given");
    fs::path dir(f.resume);
    KN_CHECK(fs::exists(dir / "run.json"), "--resume ", f.resume, ": no run.json there (not a train_knots output directory)");
    KN_CHECK(fs::exists(dir / "last.h5"), "--resume ", f.resume, ": no last.h5 there (the run finished no epoch)");
    std::ifstream in(dir / "run.json");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      KN_THROW("--resume ", f.resume, ": run.json is unreadable (", e.what(), ")");
    }
    const int64_t epochs = f.epochs;
    const std::string device = f.device;
    const int threads = f.threads;
    flags_from_json(j.at("flags"), f);
    spec = parse_spec(j.at("spec").get<std::string>(), (dir / "run.json").string() + " (spec)");
    f.device = device;
    f.threads = threads;
    f.out = f.resume;
    if (was_given("--epochs") && epochs != f.epochs) {
      f.epochs = epochs;  // saved, so that a later resume trains to the new total too
      write_json((dir / "run.json").string(), {{"flags", flags_json(f)}, {"spec", spec.text}});
    }
  } else {
    spec = load_spec(f.model);
  }
  KN_CHECK(!f.data.path.empty(), "--data FILE is required (or --resume DIR)");
  // Check every flag before any work, so a typo costs nothing.
  ShuffleMode shuffle = parse_shuffle_mode(f.shuffle);
  const MemoryBudget budget = f.gpu_mem.empty() ? MemoryBudget{} : parse_memory_budget(f.gpu_mem);
  const AllocOptions alloc = parse_alloc_policy(f.alloc);
  KN_CHECK(f.gpu_mem.empty() || alloc.policy == AllocPolicy::planned || alloc.policy == AllocPolicy::growth,
           "--gpu-mem applies to --alloc planned and growth; --alloc ", alloc.str(), " sizes its own block");
  const SplitFractions fractions = parse_split_fractions(f.split);
  const Device device = resolve_device(f.device);
  KN_CHECK(device == Device::cuda || alloc.policy == AllocPolicy::planned || alloc.policy == AllocPolicy::growth,
           "--alloc ", alloc.str(), " needs a GPU; on the CPU use planned or growth");
  if (shuffle == ShuffleMode::none)
    std::fprintf(stderr,
                 "warning: --shuffle none reads the file in order; on a file sorted by class every batch holds one "
                 "class and the model learns whichever class it saw last (the original Keras failure)\n");

  ImageDataset data(f.data.path, dataset_options(f.data));
  const DatasetInfo& info = data.info();
  for (const auto& w : info.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  Split split = stratified_split(data.labels(), data.classes(), data.block_rows(), fractions, f.seed);
  KN_CHECK(!split.train().empty(), f.data.path, ": the split leaves no training images");

  ModelOptions mopt;
  mopt.batch = f.batch;
  mopt.device = device;
  mopt.seed = f.seed;
  mopt.optimizer.name = f.optimizer;
  mopt.optimizer.lr = f.lr;
  mopt.optimizer.momentum = f.momentum;
  mopt.alloc = alloc;
  mopt.tf32 = f.tf32;
  mopt.conv_search = parse_conv_search(f.conv_algo);
  mopt.cudnn_deterministic = !f.nondeterministic;
  if (f.tf32 && device != Device::cuda)
    std::fprintf(stderr, "note: --tf32 applies to GPU convolutions; the CPU computes in strict fp32\n");
  const std::string& spec_text = spec.text;
  if (spec.input != info.image_shape)
    std::fprintf(stderr, "note: %s's input line says %s; the model is built for the file's images %s\n",
                 spec.origin.c_str(), spec.input.str().c_str(), info.image_shape.str().c_str());
  // The card before the model: its total, what is free, the measured context (made here).
  const DeviceMemory dev_before = mopt.device == Device::cuda ? query_device_memory() : DeviceMemory{};
  std::string budget_line;  // the budget verdict, printed with the model's line (CUDA only)
  std::vector<BudgetFit::Fallback> fallbacks;  // the later rungs that fit, should cuDNN refuse
  {
    ModelOptions plan_only = mopt;
    plan_only.allocate = false;
    Model planned(spec, plan_only, info.image_shape);
    check_data_fits_model(data, planned);
    if (mopt.device == Device::cuda && alloc.policy != AllocPolicy::growth) {
      // Everything is checked before anything is allocated; a model that does not fit stops
      // here with the report, never with an out-of-memory error mid-training.
      BudgetFit fit =
          fit_to_budget(spec, mopt, info.image_shape, policy_budget(alloc, budget, dev_before), dev_before);
      KN_CHECK(fit.fits, fit.check.report);
      if (fit.fell_back)
        std::fprintf(stderr, "note: to fit the budget (%s) the convolutions use %s\n", format_bytes(fit.check.budget).c_str(),
                     fit.choice.c_str());
      mopt = fit.options;
      budget_line = budget_verdict(fit.check, fit.choice);
      fallbacks = fit.next;
    }
  }
  // growth takes no plan-wide check (that is the point of it): --gpu-mem caps what it may take,
  // and the allocation that would pass the cap fails, naming its buffer.
  if (alloc.policy == AllocPolicy::growth && budget.set && mopt.device == Device::cuda) {
    const size_t cap = budget.bytes(dev_before.total);
    mopt.growth_cap = cap > dev_before.context ? cap - dev_before.context : 1;
  }
  std::unique_ptr<Model> built = build_model(spec, mopt, info.image_shape, fallbacks,
                                             policy_budget(alloc, budget, dev_before), dev_before, budget_line);
  Model& model = *built;

  if (f.out.empty()) f.out = default_out_dir();
  fs::create_directories(f.out);
  RunState run;
  EarlyStopping early({.patience = f.early_stopping > 0 ? f.early_stopping : 1,
                       .min_delta = f.early_stopping_min_delta,
                       .restore_best_weights = false});
  ReduceLROnPlateau reduce({.factor = f.reduce_lr_factor, .patience = f.reduce_lr_patience, .min_lr = f.min_lr});
  ModelCheckpoint checkpoint(f.out, spec_text, run);
  HistoryFiles files(f.out, run, fs::path(f.data.path).filename().string() + " / " + f.model + " / " + f.optimizer);
  if (f.early_stopping > 0) run.callbacks.push_back(&early);
  if (f.reduce_lr_patience > 0) run.callbacks.push_back(&reduce);

  int64_t initial_epoch = 0;
  if (!f.resume.empty()) {
    std::string last = (fs::path(f.out) / "last.h5").string();
    load_checkpoint(last, model);
    CheckpointInfo ck = read_checkpoint_info(last);
    run.restore(ck.trainer_state);
    initial_epoch = ck.epoch;
    std::fprintf(stderr, "resuming %s after epoch %lld (update %lld)\n", f.out.c_str(),
                 static_cast<long long>(initial_epoch), static_cast<long long>(ck.step));
  } else {
    write_json((fs::path(f.out) / "run.json").string(), {{"flags", flags_json(f)}, {"spec", spec_text}});
  }

  std::fprintf(stderr, "%s: %lld images %s, %d classes; split train %zu / validation %zu / test %zu (seed %llu)\n",
               f.data.path.c_str(), static_cast<long long>(info.n), info.image_shape.str().c_str(), data.classes(),
               split.train().size(), split.validation().size(), split.test().size(),
               static_cast<unsigned long long>(f.seed));
  std::fprintf(stderr,
               "model %s: %s trainable parameters; memory plan %s at batch %lld on %s (%s without lifetime reuse; "
               "--alloc %s, holds %s",
               f.model.c_str(), format_count(model.trainable_count()).c_str(),
               format_bytes(model.plan().total_bytes()).c_str(), static_cast<long long>(f.batch),
               device_name(mopt.device), format_bytes(model.plan().total_without_reuse()).c_str(), alloc.str().c_str(),
               format_bytes(model.held_bytes()).c_str());
  if (mopt.device == Device::cuda)
    std::fprintf(stderr, "; CUDA context %s; budget %s", format_bytes(dev_before.context).c_str(),
                 budget.set ? budget.str().c_str() : "none");
  std::fprintf(stderr, "); output in %s\n", f.out.c_str());
  if (!budget_line.empty()) std::fprintf(stderr, "%s\n", budget_line.c_str());
  nlohmann::json conv_algorithms = nlohmann::json::object();
  if (mopt.device == Device::cuda)
    for (const auto& layer : model.layers())
      if (const auto* conv = dynamic_cast<const ConvLayer*>(layer.get())) {
        std::fprintf(stderr, "%s: %s\n", conv->name().c_str(), conv->device_algorithms().c_str());
        conv_algorithms[conv->name()] = conv->device_algorithms();
      }

  ReaderOptions ropt;
  ropt.batch = f.batch;
  ropt.seed = f.seed;
  ropt.shuffle = shuffle;
  ropt.threads = f.threads;
  ReaderOptions eval_opt = ropt;
  eval_opt.shuffle = ShuffleMode::none;
  // On the GPU the readers' rings are pinned and batches go to the model's device staging on the
  // copy stream; the trainer takes them through BatchSource::device_batch().
  Model* device_model = mopt.device == Device::cuda ? &model : nullptr;
  ReaderSource train(data, split.train(), ropt, device_model);
  for (const auto& w : train.reader().warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
  std::unique_ptr<ReaderSource> val, test;
  if (!split.validation().empty())
    val = std::make_unique<ReaderSource>(data, split.validation(), eval_opt, device_model);
  if (!split.test().empty()) test = std::make_unique<ReaderSource>(data, split.test(), eval_opt, device_model);

  Trainer trainer(model, train, val.get());
  for (Callback* c : run.callbacks) trainer.add_callback(c);
  trainer.add_callback(&checkpoint);  // after the callbacks whose state it saves
  trainer.add_callback(&files);
  Progress progress(f.epochs, isatty(fileno(stderr)) != 0);
  BatchLog batch_log((fs::path(f.out) / "batches.csv").string(), initial_epoch);
  KillSwitch kill_switch;
  SilentUnitWatch silent_units(model);
  ObserverFan observer({&progress, &batch_log, &silent_units, &kill_switch});
  trainer.set_observer(&observer);

  auto t0 = std::chrono::steady_clock::now();
  std::string status = "completed";
  try {
    trainer.fit({.epochs = f.epochs, .initial_epoch = initial_epoch, .steps_per_epoch = f.steps_per_epoch});
  } catch (const NonFiniteLoss& e) {
    std::fprintf(stderr, "\n");
    status = "diverged";
    nlohmann::json s = {{"status", status}, {"error", e.what()}, {"output_dir", f.out}};
    write_json((fs::path(f.out) / "summary.json").string(), s);
    throw;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (trainer.stopped_early()) {
    std::fprintf(stderr, "early stopping after epoch %lld: no improvement for %d epochs\n",
                 static_cast<long long>(run.history.empty() ? 0 : run.history.back().epoch), f.early_stopping);
    status = "stopped_early";
  }
  if (f.restore_best && run.best_epoch > 0 && fs::exists(fs::path(f.out) / "best.h5")) {
    load_checkpoint((fs::path(f.out) / "best.h5").string(), model);
    std::fprintf(stderr, "restored the best weights (epoch %lld)\n", static_cast<long long>(run.best_epoch));
  }

  nlohmann::json summary = {{"status", status}, {"output_dir", f.out}, {"best_epoch", run.best_epoch},
                            {"epochs_run", run.history.size()}, {"train_seconds_this_session", seconds}};
  if (!run.history.empty()) {
    const EpochLog& last = run.history.back();
    summary["final"] = epoch_json(last);
    double ips = 0;
    for (const EpochLog& e : run.history) ips += e.images_per_second;
    summary["images_per_second_mean"] = ips / double(run.history.size());
  }
  if (test) {
    Evaluation ev = evaluate(model, *test);
    std::fprintf(stderr, "test: loss %.4f  acc %.4f on %lld images\n%s", ev.loss, ev.accuracy(),
                 static_cast<long long>(ev.count), format_confusion(ev, class_names(info)).c_str());
    summary["test"] = evaluation_json(ev, class_names(info));
  }
  summary["plan_bytes"] = model.plan().total_bytes();
  // GPU memory: the plan's total (every byte the model holds), and what the card's free memory
  // says this process took from just after its CUDA context was made to the end of training.
  summary["alloc"] = alloc.str();
  summary["held_bytes"] = model.held_bytes();
  const bool gpu = mopt.device == Device::cuda;
  summary["gpu_plan_bytes"] = gpu ? nlohmann::json(model.plan().total_bytes()) : nlohmann::json();
  summary["gpu_held_bytes"] = gpu ? nlohmann::json(model.held_bytes()) : nlohmann::json();
  summary["gpu_context_bytes"] = gpu ? nlohmann::json(dev_before.context) : nlohmann::json();
  summary["gpu_context_method"] = gpu ? nlohmann::json(dev_before.context_method) : nlohmann::json();
  // Signed: the card's free memory may also have grown meanwhile (another process let go).
  summary["gpu_bytes_measured"] =
      gpu ? nlohmann::json(static_cast<int64_t>(dev_before.free) - static_cast<int64_t>(query_device_memory().free))
          : nlohmann::json();
  summary["device"] = device_name(mopt.device);
  summary["math"] = mopt.device == Device::cuda && mopt.tf32 ? "tf32 (cuDNN convolutions)" : "fp32";
  summary["conv_algorithms"] = conv_algorithms;
  summary["cudnn_deterministic"] = mopt.cudnn_deterministic;
  summary["model"] = {{"spec", f.model}, {"trainable_params", model.trainable_count()},
                      {"non_trainable_params", model.statistics_count()}};
  summary["silent_units"] = silent_units.json();
  summary["versions"] = versions_json();
  write_json((fs::path(f.out) / "summary.json").string(), summary);
  if (f.json) std::cout << summary.dump(2) << "\n";
  return 0;
}

void add_fit_options(CLI::App& sub, FitFlags& f) {
  add_data_options(sub, f.data, false);
  sub.add_option("--model", f.model, "named spec (seed, small, tiny) or spec file")->capture_default_str();
  sub.add_option("--epochs", f.epochs, "epochs to train (with --resume: the new total)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub.add_option("--batch", f.batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  sub.add_option("--optimizer", f.optimizer, "sgd, adagrad, rmsprop or adam")
      ->capture_default_str()
      ->check(CLI::IsMember({"sgd", "adagrad", "rmsprop", "adam"}));
  sub.add_option("--lr", f.lr, "learning rate (default: the optimizer's Keras default)");
  sub.add_option("--momentum", f.momentum, "momentum for sgd and rmsprop")->capture_default_str();
  sub.add_option("--split", f.split, "train,validation,test fractions (stratified, by --seed)")->capture_default_str();
  sub.add_option("--seed", f.seed, "seed for the split, the shuffling, the weights and dropout")->capture_default_str();
  sub.add_option("--shuffle", f.shuffle, "window (shuffled, class-mixed batches) or none (file order: warns)")
      ->capture_default_str();
  sub.add_option("--device", f.device, "auto (the GPU when there is one), cpu or cuda")->capture_default_str();
  sub.add_option("--gpu-mem", f.gpu_mem, "GPU memory budget: a size (6GiB) or a fraction of the card (0.5)");
  sub.add_option("--alloc", f.alloc,
                 "how GPU memory is taken: planned (the plan's exact total), preallocate (all free memory but a "
                 "reserve, as TensorFlow), growth (each buffer its own allocation, as allow_growth), fraction=F "
                 "(F of the card)")
      ->capture_default_str();
  sub.add_option("--steps-per-epoch", f.steps_per_epoch,
                 "at most this many updates per epoch, each epoch a new shuffled order (0: the whole split)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub.add_flag("--tf32", f.tf32,
               "let cuDNN's convolutions use TF32 tensor cores (faster, 10-bit mantissas); default strict fp32");
  add_conv_algo_option(sub, f.conv_algo);
  sub.add_flag("--nondeterministic", f.nondeterministic,
               "let GPU convolutions use cuDNN's non-deterministic algorithms where they are faster (PyTorch's "
               "default); the last bits of the results may then differ from run to run. Default: deterministic ones "
               "(the implicit GEMM is always one), except where cuDNN's heuristics offer none that fits the shape, "
               "math and workspace: the choice printed at the start marks such an algorithm non-deterministic");
  sub.add_option("--out", f.out, "output directory (default: runs/<date-time>)");
  sub.add_option("--resume", f.resume, "continue the run in this output directory from its last.h5");
  sub.add_flag("--json", f.json, "print the final summary as JSON on stdout");
  sub.add_option("--early-stopping", f.early_stopping, "stop after this many epochs without val_loss improvement (0: off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--early-stopping-min-delta", f.early_stopping_min_delta,
                 "the smallest decrease of val_loss that counts as an improvement")
      ->capture_default_str();
  sub.add_flag("--restore-best-weights", f.restore_best, "end with the best epoch's weights (from best.h5)");
  sub.add_option("--reduce-lr-patience", f.reduce_lr_patience,
                 "multiply the learning rate by --reduce-lr-factor after this many epochs without improvement (0: off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--reduce-lr-factor", f.reduce_lr_factor, "ReduceLROnPlateau factor")->capture_default_str();
  sub.add_option("--min-lr", f.min_lr, "ReduceLROnPlateau lower bound")->capture_default_str();
  sub.add_option("--threads", f.threads, "reader threads (0: all cores)")->capture_default_str();
}

std::function<int()> setup(CLI::App& sub) {
  auto f = std::make_shared<FitFlags>();
  add_fit_options(sub, *f);
  CLI::App* app = &sub;
  return [f, app]() {
    std::vector<std::string> given;
    for (const CLI::Option* o : app->get_options())
      if (o->count() > 0 && !o->get_lnames().empty()) given.push_back("--" + o->get_lnames().front());
    return run_fit(*f, given);
  };
}

}  // namespace

KN_REGISTER_COMMAND(fit, "fit", "train a model on an HDF5 file (split, shuffled batches, checkpoints, test metrics)",
                    setup);

}  // namespace knotnet::app
