// make_knots: render the knot-diagram dataset (unknots, plus trefoils, minus trefoils) into an
// appendable HDF5 file, and/or a captioned preview grid. See --help and docs/make_knots.md.
// The one non-obvious choice: SIGINT/SIGTERM only set a flag that the write loop checks between
// blocks, so an interrupted run unwinds normally and removes its temporary file.
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>

#include "apps/make_knots/generate.h"
#include "apps/make_knots/options.h"
#include "apps/make_knots/plan.h"
#include "apps/make_knots/preview.h"
#include "engine/error.h"
#include "engine/format.h"

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_signal(int) { g_interrupted.store(true); }

int run(const knotnet::make_knots::Options& options) {
  using namespace knotnet::make_knots;
  Plan plan = make_plan(options);
  int64_t per_class = plan.out.empty() && !options.given_per_class ? plan.preview_count : plan.per_class;
  std::vector<uint8_t> labels = row_labels(per_class, plan.shuffled, plan.seed, plan.first_index);
  if (!plan.out.empty()) {
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGHUP, on_signal);
    auto start = std::chrono::steady_clock::now();
    int64_t rows = write_dataset(plan, labels, g_interrupted);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("make_knots: %s %s images (%s per class, %s order, %d threads) to %s in %.1f s, %s images/s; it holds %s\n",
                plan.append ? "appended" : "wrote", knotnet::format_count(static_cast<int64_t>(labels.size())).c_str(),
                knotnet::format_count(plan.per_class).c_str(), plan.shuffled ? "shuffled" : "sorted", plan.threads,
                plan.out.string().c_str(), secs,
                knotnet::format_count(static_cast<int64_t>(static_cast<double>(labels.size()) / std::max(secs, 1e-9))).c_str(),
                knotnet::format_count(rows).c_str());
  }
  if (!plan.preview.empty()) {
    write_preview(plan.preview.string(), plan.seed, plan.size, plan.first_index, labels, plan.preview_count);
    std::printf("make_knots: wrote the preview %s\n", plan.preview.string().c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  knotnet::make_knots::Options o;
  CLI::App app{
      "make_knots: render knot diagrams (unknots, plus trefoils, minus trefoils) with proven labels into an "
      "appendable HDF5 file"};
  auto* per_class = app.add_option("--per-class", o.per_class, "images of each class to add (required with --out)");
  app.add_option("--out", o.out, "HDF5 file to create (or to add to, with --append)");
  auto* size = app.add_option("--size", o.size, "image width and height in pixels")->capture_default_str();
  auto* seed = app.add_option("--seed", o.seed, "generator seed: the same seed gives the same bytes")->capture_default_str();
  app.add_option("--threads", o.threads, "render threads (0: all cores)")->capture_default_str();
  app.add_option("--order", o.order, "sorted (all unknots, then plus, then minus trefoils) or shuffled")
      ->capture_default_str();
  auto* deflate = app.add_option("--deflate", o.deflate, "deflate level 0 (none) to 9")->capture_default_str();
  auto* chunk = app.add_option("--chunk", o.chunk, "images per HDF5 chunk")->capture_default_str();
  app.add_flag("--append", o.append, "add to an existing file (same layout, size and seed)");
  auto* layout = app.add_option("--layout", o.layout,
                                "native: /train_data (N,H,W,3) uint8, /train_label (N,) uint8; "
                                "seed: /train_data (N,H*W*3) uint8, /train_label (N,3) float32 one-hot")
                     ->capture_default_str();
  app.add_option("--preview", o.preview, "write a captioned PNG grid of samples");
  app.add_option("--preview-count", o.preview_count, "preview samples per class")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  o.given_per_class = per_class->count() > 0;
  o.given_size = size->count() > 0;
  o.given_seed = seed->count() > 0;
  o.given_deflate = deflate->count() > 0;
  o.given_chunk = chunk->count() > 0;
  o.given_layout = layout->count() > 0;
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_knots: error: %s\n", e.what());
    return g_interrupted.load() ? 130 : 1;
  }
}
