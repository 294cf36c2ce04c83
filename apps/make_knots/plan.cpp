// Option checking and resolution. The one non-obvious choice: on --append, options left out are
// taken from the file and options given must agree with it, so "--append --per-class N" alone
// always continues a file exactly as it was begun.
#include "apps/make_knots/plan.h"

#include <thread>

#include "engine/error.h"
#include "io/knots/knot_types.h"
#include "io/knots/render.h"
#include "io/knots/sample_random.h"

namespace knotnet::make_knots {

namespace fs = std::filesystem;

Plan make_plan(const Options& o) {
  Plan p;
  KN_CHECK(!o.out.empty() || !o.preview.empty(), "nothing to do: give --out FILE with --per-class N, and/or --preview FILE.png");
  p.out = o.out;
  p.preview = o.preview;
  KN_CHECK(o.out.empty() || o.given_per_class, "--per-class N is required with --out (N images of each class)");
  KN_CHECK(!o.given_per_class || o.per_class >= 1, "--per-class must be at least 1 image per class, got ", o.per_class);
  KN_CHECK(o.per_class <= (int64_t{1} << 36), "--per-class ", o.per_class, " is beyond what the generator indexes");
  p.per_class = o.per_class;
  KN_CHECK(o.size >= knots::kMinImageSize && o.size <= knots::kMaxImageSize, "--size must be between ", knots::kMinImageSize,
           " and ", knots::kMaxImageSize, " pixels, got ", o.size);
  p.size = o.size;
  p.seed = o.seed;
  KN_CHECK(o.threads >= 0 && o.threads <= 1024, "--threads must be 0 (all cores) or a count up to 1024, got ", o.threads);
  p.threads = o.threads > 0 ? o.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  KN_CHECK(o.order == "sorted" || o.order == "shuffled", "--order must be sorted or shuffled, got ", o.order);
  p.shuffled = o.order == "shuffled";
  KN_CHECK(o.deflate >= 0 && o.deflate <= 9, "--deflate must be a level from 0 (none) to 9, got ", o.deflate);
  p.deflate = o.deflate;
  KN_CHECK(o.chunk >= 1, "--chunk must be at least 1 image per chunk, got ", o.chunk);
  p.chunk = o.chunk;
  p.layout = parse_layout(o.layout);
  KN_CHECK(o.preview_count >= 1 && o.preview_count <= 64, "--preview-count must be between 1 and 64, got ", o.preview_count);
  p.preview_count = o.preview_count;
  KN_CHECK(!o.append || !o.out.empty(), "--append needs --out FILE, the file to add to");
  p.append = o.append;

  if (p.append) {
    KN_CHECK(fs::exists(p.out), "--append: ", p.out.string(), " does not exist (leave out --append to create it)");
    FileFacts f = read_file_facts(p.out);
    KN_CHECK(!o.given_layout || f.layout == p.layout, "layout mismatch: ", p.out.string(), " has the ", layout_name(f.layout),
             " layout, but --layout ", layout_name(p.layout), " was given");
    KN_CHECK(!o.given_size || f.size == p.size, "image size mismatch: ", p.out.string(), " holds ", f.size, "x", f.size,
             " images, but --size ", p.size, " was given");
    KN_CHECK(!o.given_seed || f.seed == p.seed, "seed mismatch: ", p.out.string(), " was generated with seed ", f.seed,
             "; --append continues with the file's seed (leave out --seed or pass ", f.seed, ")");
    KN_CHECK(!o.given_chunk || f.chunk == p.chunk, "--chunk ", p.chunk, " differs from the ", f.chunk, " images per chunk of ",
             p.out.string(), " (chunking is fixed when a file is created)");
    KN_CHECK(!o.given_deflate || f.deflate == p.deflate, "--deflate ", p.deflate, " differs from the deflate level ", f.deflate,
             " of ", p.out.string(), " (compression is fixed when a file is created)");
    p.layout = f.layout;
    p.size = f.size;
    p.seed = f.seed;
    p.chunk = f.chunk;
    p.deflate = f.deflate;
    p.first_index = static_cast<uint64_t>(f.rows);
    p.class_counts = f.class_counts;
  } else if (!p.out.empty()) {
    KN_CHECK(!fs::exists(p.out), p.out.string(), " already exists (pass --append to add to it, or choose another --out)");
    fs::path dir = p.out.has_parent_path() ? p.out.parent_path() : fs::path(".");
    KN_CHECK(fs::is_directory(dir), "cannot write ", p.out.string(), ": ", dir.string(),
             fs::exists(dir) ? " is not a directory" : " does not exist");
  }
  const uint64_t chunk_bytes = static_cast<uint64_t>(p.chunk) * static_cast<uint64_t>(p.size) * static_cast<uint64_t>(p.size) * 3;
  KN_CHECK(chunk_bytes < (uint64_t{1} << 32), "--chunk ", p.chunk, " makes chunks of ", chunk_bytes,
           " bytes; HDF5 chunks must stay under 4 GiB");
  KN_CHECK(p.first_index + 3 * static_cast<uint64_t>(p.per_class) < (uint64_t{1} << 40),
           "the file would hold more samples than the generator indexes (2^40)");
  return p;
}

std::vector<uint8_t> row_labels(int64_t per_class, bool shuffled, uint64_t seed, uint64_t first_index) {
  std::vector<uint8_t> labels(static_cast<size_t>(per_class) * knots::kNumClasses);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>(i / static_cast<size_t>(per_class));
  if (shuffled) {
    // Label 3 never names a class, so this stream is disjoint from every sample's.
    knots::SampleRandom rng(seed, knots::sample_stream(first_index, 3, 0));
    for (size_t i = labels.size(); i > 1; --i) std::swap(labels[i - 1], labels[rng.bits() % i]);
  }
  return labels;
}

}  // namespace knotnet::make_knots
