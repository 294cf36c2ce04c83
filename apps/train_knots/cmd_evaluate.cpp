// train_knots evaluate: loss, accuracy and confusion matrix of a checkpoint over a file (all of
// it, or one part of the split fit made: its --split and --seed, read from the run's run.json
// beside the checkpoint unless given).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "apps/train_knots/command.h"
#include "apps/train_knots/data_sources.h"
#include "apps/train_knots/device_options.h"
#include "apps/train_knots/observers.h"
#include "apps/train_knots/report.h"
#include "engine/cuda_context.h"
#include "io/checkpoint.h"

namespace knotnet::app {
namespace {

struct EvalFlags {
  std::string conv_algo = "measured";
  std::string checkpoint, part = "all", split = "70,15,15", device = "auto";  // fit's default split
  DataFlags data;
  uint64_t seed = 42;
  int64_t batch = 128;
  bool json = false;
};

// With --part, the split must be the one fit made, or "test" names other images. What the
// command line leaves out comes from run.json in the checkpoint's directory (fit writes it with
// its flags), else the seed from the checkpoint itself and fit's default split; a note says
// where each came from.
void use_the_runs_split(EvalFlags& f, bool split_given, bool seed_given) {
  if (f.part == "all" || (split_given && seed_given)) return;
  namespace fs = std::filesystem;
  const fs::path run_json = fs::path(f.checkpoint).parent_path() / "run.json";
  std::string split_from = split_given ? "given" : "fit's default", seed_from = seed_given ? "given" : "";
  if (std::ifstream in(run_json); in) {
    try {
      const nlohmann::json flags = nlohmann::json::parse(in).at("flags");
      if (!split_given && flags.contains("split") && flags["split"].is_string()) {
        f.split = flags["split"].get<std::string>();
        split_from = run_json.string();
      }
      if (!seed_given && flags.contains("seed") && flags["seed"].is_number_unsigned()) {
        f.seed = flags["seed"].get<uint64_t>();
        seed_from = run_json.string();
      }
    } catch (const std::exception&) {
      // not fit's run.json: the checkpoint and fit's defaults it is
    }
  }
  if (seed_from.empty()) {
    f.seed = read_checkpoint_info(f.checkpoint).seed;
    seed_from = f.checkpoint;
  }
  std::fprintf(stderr, "note: --part %s of the split the run made: --split %s (%s) --seed %llu (%s)\n",
               f.part.c_str(), f.split.c_str(), split_from.c_str(), static_cast<unsigned long long>(f.seed),
               seed_from.c_str());
}

std::function<int()> setup(CLI::App& sub) {
  auto f = std::make_shared<EvalFlags>();
  sub.add_option("--checkpoint", f->checkpoint, "checkpoint (best.h5 or last.h5 of a run)")->required();
  add_data_options(sub, f->data, true);
  sub.add_option("--part", f->part, "all, or one part of the split: train, validation, test")->capture_default_str();
  CLI::Option* split = sub.add_option(
      "--split", f->split, "the split fractions fit used (with --part; default: the run's, from run.json beside the checkpoint)");
  CLI::Option* seed = sub.add_option("--seed", f->seed, "the seed fit used (with --part; default: the run's)");
  sub.add_option("--batch", f->batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  sub.add_option("--device", f->device, "auto, cpu or cuda")->capture_default_str();
  add_conv_algo_option(sub, f->conv_algo);
  sub.add_flag("--json", f->json, "print the result as JSON on stdout");
  return [f, split, seed]() {
    use_the_runs_split(*f, split->count() > 0, seed->count() > 0);
    auto model = model_from_checkpoint(f->checkpoint, f->batch, resolve_device(f->device),
                                       parse_conv_search(f->conv_algo));
    DatasetOptions dopt = dataset_options(f->data);
    dopt.classes = static_cast<int>(model->classes());  // a file may lack the last class
    ImageDataset data(f->data.path, dopt);
    check_data_fits_model(data, *model);
    ReaderOptions ropt;
    ropt.batch = f->batch;
    ropt.shuffle = ShuffleMode::none;
    ReaderSource source(data, rows_for_part(data, f->part, f->split, f->seed), ropt);
    // The checkpoint's silent units, from its optimizer state (engine/unit_census.h).
    const nlohmann::json census = census_report(*model);
    Evaluation ev = evaluate(*model, source);
    auto names = class_names(data.info());
    if (f->json) {
      nlohmann::json j = evaluation_json(ev, names);
      j["checkpoint"] = f->checkpoint;
      j["data"] = f->data.path;
      j["part"] = f->part;
      j["silent_units"] = census;
      std::cout << j.dump(2) << "\n";
    } else {
      std::printf("%s on %s (%s): loss %.4f  acc %.4f on %lld images\n%s", f->checkpoint.c_str(), f->data.path.c_str(),
                  f->part.c_str(), ev.loss, ev.accuracy(), static_cast<long long>(ev.count),
                  format_confusion(ev, names).c_str());
      if (!census.is_null())
        std::printf("silent units (no gradient for the last ~%lld steps or more, of step %lld): %s\n",
                    static_cast<long long>(census["window_steps"].get<int64_t>()),
                    static_cast<long long>(model->step_count()), census_text(census).c_str());
    }
    return 0;
  };
}

}  // namespace

KN_REGISTER_COMMAND(evaluate, "evaluate", "loss, accuracy and confusion matrix of a checkpoint on a file", setup);

}  // namespace knotnet::app
