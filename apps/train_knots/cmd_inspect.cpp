// train_knots inspect: validates a data file and prints what the reader found (layout, element
// types, image shape, storage, labels, class counts overall and per split, the reader's
// buffers) and the class counts of the first batches in the order training would see them.
// The batches are planned from the labels alone, so inspecting a large file reads no pixels;
// --verify also reads and decodes every chunk, for a full check before a long run.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/train_knots/command.h"
#include "engine/format.h"
#include "io/batch_reader.h"
#include "io/h5_dataset.h"
#include "io/shuffle_quality.h"
#include "io/split.h"

namespace knotnet::app {
namespace {

struct InspectFlags {
  std::string data;
  std::string data_name = "train_data";
  std::string label_name = "train_label";
  std::string image_shape;
  std::string split = "70,15,15";
  std::string part = "train";
  std::string shuffle = "window";
  uint64_t seed = 42;
  int64_t batch = 128;
  int64_t batches = 5;
  int threads = 0;
  int classes = 0;
  bool json = false;
  bool verify = false;
};

std::string dims_text(const std::vector<int64_t>& d) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < d.size(); ++i) os << (i ? ", " : "") << d[i];
  os << (d.size() == 1 ? ",)" : ")");
  return os.str();
}

std::string counts_text(const std::vector<int64_t>& counts, const std::vector<std::string>& names) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  std::ostringstream os;
  for (size_t c = 0; c < counts.size(); ++c) {
    char pct[32];
    std::snprintf(pct, sizeof pct, "%.1f%%", total ? 100.0 * static_cast<double>(counts[c]) / static_cast<double>(total) : 0.0);
    os << (c ? " | " : "") << c << (c < names.size() ? " " + names[c] : "") << " " << format_count(counts[c]) << " ("
       << pct << ")";
  }
  return os.str();
}

std::vector<double> shares(const std::vector<int64_t>& counts) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  std::vector<double> p;
  for (int64_t c : counts) p.push_back(total ? static_cast<double>(c) / static_cast<double>(total) : 0.0);
  return p;
}

int run_inspect(const InspectFlags& f) {
  KN_CHECK(!f.data.empty(), "inspect: --data FILE is required");
  KN_CHECK(f.batch > 0, "--batch must be positive, got ", f.batch);
  KN_CHECK(f.batches >= 0, "--batches must not be negative, got ", f.batches);
  DatasetOptions dopt;
  dopt.data_name = f.data_name;
  dopt.label_name = f.label_name;
  if (!f.image_shape.empty()) dopt.image_shape = parse_image_shape(f.image_shape);
  dopt.classes = f.classes;
  ImageDataset ds(f.data, dopt);
  const DatasetInfo& info = ds.info();
  std::vector<std::string> warnings = info.warnings;

  const SplitFractions fractions = parse_split_fractions(f.split);
  const SplitPart part = parse_split_part(f.part);
  Split split = stratified_split(ds.labels(), ds.classes(), ds.block_rows(), fractions, f.seed);

  ReaderOptions ropt;
  ropt.batch = f.batch;
  ropt.seed = f.seed;
  ropt.shuffle = parse_shuffle_mode(f.shuffle);
  ropt.threads = f.threads;
  const std::vector<int64_t>& rows = split[part];
  ReaderLayout layout = plan_reader_layout(ds, rows, ropt);
  warnings.insert(warnings.end(), layout.warnings.begin(), layout.warnings.end());

  PlanOptions popt;
  popt.batch = f.batch;
  popt.window_samples = layout.window_samples;
  popt.mode = ropt.shuffle;
  popt.seed = f.seed;
  EpochPlan plan = plan_epoch(rows, ds.labels(), ds.classes(), ds.block_rows(), popt, 0);
  std::vector<std::vector<int64_t>> first;
  for (int64_t k = 0; k < std::min(f.batches, plan.batches()); ++k) {
    std::vector<int64_t> counts(static_cast<size_t>(ds.classes()), 0);
    for (int64_t q = k * f.batch; q < k * f.batch + plan.batch_size(k); ++q)
      ++counts[static_cast<size_t>(ds.labels()[static_cast<size_t>(plan.order[static_cast<size_t>(q)])])];
    first.push_back(counts);
  }
  const std::vector<int64_t> part_counts = class_counts(ds.labels(), rows, ds.classes());
  const std::vector<double> part_shares = shares(part_counts);
  int present = 0;
  for (double p : part_shares) present += p > 0;
  auto p_value = [&](const std::vector<int64_t>& counts) {
    return present >= 2 ? chi_square_upper_tail(chi_square_statistic(counts, part_shares), present - 1) : 1.0;
  };

  // Optional full read: every chunk of the file decoded once, in file order.
  double verify_seconds = -1;
  if (f.verify) {
    std::vector<int64_t> all(static_cast<size_t>(ds.size()));
    for (int64_t r = 0; r < ds.size(); ++r) all[static_cast<size_t>(r)] = r;
    ReaderOptions vopt = ropt;
    vopt.shuffle = ShuffleMode::none;
    vopt.window_samples = 8 * f.batch;
    auto t0 = std::chrono::steady_clock::now();
    BatchReader reader(ds, all, vopt);
    reader.start_epoch(0);
    Batch b;
    while (reader.next(b)) {
    }
    verify_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  std::vector<std::string> names = info.class_names;
  const char* part_names[3] = {"train", "validation", "test"};
  if (f.json) {
    nlohmann::json j;
    j["file"] = info.path;
    j["complete"] = info.completeness;
    j["images"] = {{"dataset", info.data_name},
                   {"dtype", info.data_dtype},
                   {"shape", info.data_shape},
                   {"flat", info.flat},
                   {"image_shape", {info.image_shape[0], info.image_shape[1], info.image_shape[2]}},
                   {"image_shape_from", info.image_shape_from},
                   {"pixel_range", info.pixel_range},
                   {"n", info.n}};
    j["storage"] = {{"layout", storage_layout_name(info.layout)},
                    {"chunk", info.chunk_shape},
                    {"filters", info.filters},
                    {"deflate_level", info.deflate_level},
                    {"block_rows", info.block_rows},
                    {"blocks", info.blocks},
                    {"chunks", info.chunks},
                    {"raw_bytes", info.raw_bytes},
                    {"stored_bytes", info.stored_bytes},
                    {"read_path", info.direct ? "direct" : "hdf5"}};
    if (!info.direct) j["storage"]["why_not_direct"] = info.why_not_direct;
    j["labels"] = {{"dataset", info.label_name},
                   {"dtype", info.label_dtype},
                   {"shape", info.label_shape},
                   {"format", info.label_format == LabelFormat::indices ? "indices" : "one-hot"},
                   {"classes", info.classes},
                   {"class_names", info.class_names}};
    j["class_counts"] = info.class_counts;
    nlohmann::json sj = {{"seed", f.seed}, {"fractions", {fractions.train, fractions.validation, fractions.test}}};
    for (int p = 0; p < 3; ++p)
      sj[part_names[p]] = {{"n", split.parts[static_cast<size_t>(p)].size()},
                           {"class_counts", class_counts(ds.labels(), split.parts[static_cast<size_t>(p)], ds.classes())}};
    j["split"] = sj;
    j["reader"] = {{"part", split_part_name(part)},
                   {"batch", f.batch},
                   {"shuffle", shuffle_mode_name(ropt.shuffle)},
                   {"window_samples", layout.window_samples},
                   {"mixing_window_samples", layout.mixing_window_samples},
                   {"ring_slots", layout.slots},
                   {"threads", layout.threads},
                   {"buffer_bytes", layout.total_bytes()},
                   {"batches_per_epoch", plan.batches()}};
    nlohmann::json fb = nlohmann::json::array();
    for (size_t k = 0; k < first.size(); ++k)
      fb.push_back({{"batch", k}, {"class_counts", first[k]}, {"chi_square_p", p_value(first[k])}});
    j["first_batches"] = fb;
    if (f.verify) j["verify"] = {{"ok", true}, {"seconds", verify_seconds}, {"images", info.n}};
    j["warnings"] = warnings;
    std::cout << j.dump(2) << "\n";
    return 0;
  }

  std::ostringstream out;
  const Shape& s = info.image_shape;
  out << "file        " << info.path << "; " << info.completeness << "\n";
  out << "images      " << info.data_name << "  " << info.data_dtype << " " << dims_text(info.data_shape) << ": "
      << format_count(info.n) << " images of " << s[0] << "x" << s[1] << "x" << s[2] << " (" << info.image_shape_from
      << "), pixels " << info.pixel_range << "\n";
  out << "storage     " << storage_layout_name(info.layout);
  if (!info.chunk_shape.empty()) out << ", chunks " << dims_text(info.chunk_shape);
  out << ", " << (info.filters.empty() ? std::string("no filters") : "filters");
  for (size_t i = 0; i < info.filters.size(); ++i) out << (i ? " + " : " ") << info.filters[i];
  if (info.deflate_level >= 0) out << " (level " << info.deflate_level << ")";
  out << "; " << format_count(info.blocks) << " blocks of " << info.block_rows << " rows; "
      << format_bytes(info.raw_bytes) << " of pixels, " << format_bytes(info.stored_bytes) << " stored\n";
  out << "read path   "
      << (!info.direct           ? "through HDF5, one thread at a time (" + info.why_not_direct + ")"
          : ds.rows_are_plain()  ? std::string("direct: rows read with pread straight into the batch buffers")
          : info.filters.empty() ? std::string("direct: chunks read with pread on worker threads")
                                 : std::string("direct: chunks read with pread and decoded on worker threads"))
      << "\n";
  out << "labels      " << info.label_name << "  " << info.label_dtype << " " << dims_text(info.label_shape) << ": "
      << label_format_name(info.label_format) << ", " << info.classes << " classes\n";
  out << "classes     " << counts_text(info.class_counts, names) << "\n";
  char frac[64];
  std::snprintf(frac, sizeof frac, "%g/%g/%g", 100 * fractions.train, 100 * fractions.validation, 100 * fractions.test);
  out << "split       " << frac << " (stratified, seed " << f.seed << ")\n";
  for (int p = 0; p < 3; ++p) {
    const auto& r = split.parts[static_cast<size_t>(p)];
    char head[64];
    std::snprintf(head, sizeof head, "  %-10s %9s: ", part_names[p], format_count(static_cast<int64_t>(r.size())).c_str());
    out << head << counts_text(class_counts(ds.labels(), r, ds.classes()), names) << "\n";
  }
  out << "reader      " << split_part_name(part) << ", batch " << f.batch << ", shuffle " << shuffle_mode_name(ropt.shuffle)
      << ": windows of " << format_count(layout.window_samples) << " images (" << format_count(layout.mixing_window_samples)
      << " needed to mix this file), ring of " << layout.slots << " batches, " << layout.threads << " threads, "
      << format_bytes(layout.total_bytes()) << "\n";
  out << "first " << first.size() << " batches (" << split_part_name(part) << ", epoch 0"
      << (ropt.shuffle == ShuffleMode::none ? ", in file order" : ", shuffled") << "): class counts, chi-square p\n";
  for (size_t k = 0; k < first.size(); ++k) {
    out << "  batch " << k << ":";
    for (int64_t c : first[k]) out << " " << c;
    char pv[32];
    std::snprintf(pv, sizeof pv, "%.3g", p_value(first[k]));
    out << "   p = " << pv << "\n";
  }
  if (f.verify) {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.2f", verify_seconds);
    out << "verify      every chunk read and decoded: " << format_count(info.n) << " images in " << secs << " s\n";
  }
  for (const std::string& w : warnings) out << "warning: " << w << "\n";
  std::cout << out.str();
  return 0;
}

std::function<int()> setup(CLI::App& sub) {
  auto f = std::make_shared<InspectFlags>();
  sub.add_option("--data", f->data, "the HDF5 file to inspect")->required();
  sub.add_option("--batch", f->batch, "batch size")->capture_default_str();
  sub.add_option("--batches", f->batches, "how many first batches to show")->capture_default_str();
  sub.add_flag("--json", f->json, "print the findings as JSON");
  sub.add_option("--data-name", f->data_name, "dataset holding the images")->capture_default_str();
  sub.add_option("--label-name", f->label_name, "dataset holding the labels")->capture_default_str();
  sub.add_option("--image-shape", f->image_shape, "H,W,C of flat (N, H*W*C) rows, when the file does not say");
  sub.add_option("--classes", f->classes, "the number of classes labels must fit (0: from the file)")
      ->capture_default_str();
  sub.add_option("--split", f->split, "train,validation,test fractions (stratified, by --seed)")->capture_default_str();
  sub.add_option("--seed", f->seed, "seed for the split and the shuffling")->capture_default_str();
  sub.add_option("--part", f->part, "which split's batches to show: train, validation or test")->capture_default_str();
  sub.add_option("--shuffle", f->shuffle, "window (default) or none (file order; reproduces the failure)")
      ->capture_default_str();
  sub.add_option("--threads", f->threads, "reader threads for --verify (0: all cores)")->capture_default_str();
  sub.add_flag("--verify", f->verify, "also read and decode every chunk of the file");
  return [f]() { return run_inspect(*f); };
}

}  // namespace

KN_REGISTER_COMMAND(inspect, "inspect", "validate a data file and show its layout, classes, splits and first batches",
                    setup);

}  // namespace knotnet::app
