// train_knots evaluate: loss, accuracy and confusion matrix of a checkpoint over a file (all of
// it, or one part of the split fit made, with the same --split and --seed).
#include <cstdio>
#include <iostream>

#include "apps/train_knots/command.h"
#include "apps/train_knots/data_sources.h"
#include "apps/train_knots/device_options.h"
#include "apps/train_knots/report.h"
#include "engine/cuda_context.h"
#include "io/checkpoint.h"

namespace knotnet::app {
namespace {

struct EvalFlags {
  std::string conv_algo = "measured";
  std::string checkpoint, part = "all", split = "70,15,15", device = "auto";
  DataFlags data;
  uint64_t seed = 42;
  int64_t batch = 128;
  bool json = false;
};

std::function<int()> setup(CLI::App& sub) {
  auto f = std::make_shared<EvalFlags>();
  sub.add_option("--checkpoint", f->checkpoint, "checkpoint (best.h5 or last.h5 of a run)")->required();
  add_data_options(sub, f->data, true);
  sub.add_option("--part", f->part, "all, or one part of the split: train, validation, test")->capture_default_str();
  sub.add_option("--split", f->split, "the split fractions fit used (with --part)")->capture_default_str();
  sub.add_option("--seed", f->seed, "the seed fit used (with --part)")->capture_default_str();
  sub.add_option("--batch", f->batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  sub.add_option("--device", f->device, "auto, cpu or cuda")->capture_default_str();
  add_conv_algo_option(sub, f->conv_algo);
  sub.add_flag("--json", f->json, "print the result as JSON on stdout");
  return [f]() {
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
    Evaluation ev = evaluate(*model, source);
    auto names = class_names(data.info());
    if (f->json) {
      nlohmann::json j = evaluation_json(ev, names);
      j["checkpoint"] = f->checkpoint;
      j["data"] = f->data.path;
      j["part"] = f->part;
      std::cout << j.dump(2) << "\n";
    } else {
      std::printf("%s on %s (%s): loss %.4f  acc %.4f on %lld images\n%s", f->checkpoint.c_str(), f->data.path.c_str(),
                  f->part.c_str(), ev.loss, ev.accuracy(), static_cast<long long>(ev.count),
                  format_confusion(ev, names).c_str());
    }
    return 0;
  };
}

}  // namespace

KN_REGISTER_COMMAND(evaluate, "evaluate", "loss, accuracy and confusion matrix of a checkpoint on a file", setup);

}  // namespace knotnet::app
