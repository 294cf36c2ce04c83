// Preview grid. The one non-obvious choice: the preview renders the very samples the data file
// holds (same seed, same global indices), so what people look at is what the network sees.
#include "apps/make_knots/preview.h"

#include <algorithm>
#include <cstring>

#include "apps/make_knots/bitmap_font.h"
#include "engine/error.h"
#include "io/knots/png_write.h"
#include "io/knots/render.h"

namespace knotnet::make_knots {

namespace {

const char* class_caption(knots::KnotClass c) {
  switch (c) {
    case knots::KnotClass::Unknot: return "UNKNOT";
    case knots::KnotClass::PlusTrefoil: return "PLUS TREFOIL";
    case knots::KnotClass::MinusTrefoil: return "MINUS TREFOIL";
  }
  return "?";
}

const char* kind_caption(knots::CurveKind k) {
  switch (k) {
    case knots::CurveKind::Circle: return "CIRCLE";
    case knots::CurveKind::CurledCircle: return "CURLS";
    case knots::CurveKind::SwitchedTrefoil: return "SWITCHED";
    case knots::CurveKind::Trefoil: return "TREFOIL";
    case knots::CurveKind::CurledTrefoil: return "TREFOIL+CURL";
  }
  return "?";
}

}  // namespace

void write_preview(const std::string& path, uint64_t seed, int size, uint64_t first_index, const std::vector<uint8_t>& labels,
                   int per_class) {
  KN_CHECK(per_class >= 1, "the preview needs at least one sample per class, got ", per_class);
  // Pick rows: for each class the first per_class rows holding it.
  std::vector<uint64_t> index;
  std::vector<uint8_t> label;
  std::vector<int> column;
  for (int c = 0; c < knots::kNumClasses; ++c) {
    int taken = 0;
    for (size_t r = 0; r < labels.size() && taken < per_class; ++r)
      if (labels[r] == c) {
        index.push_back(first_index + r);
        label.push_back(static_cast<uint8_t>(c));
        column.push_back(taken++);
      }
  }
  const size_t image_bytes = static_cast<size_t>(size) * static_cast<size_t>(size) * 3;
  std::vector<uint8_t> images(index.size() * image_bytes);
  std::vector<knots::SampleInfo> infos(index.size());
  knots::RenderWorkspace ws;
  for (size_t i = 0; i < index.size(); ++i)
    infos[i] = knots::render_sample(seed, index[i], knots::class_from_label(label[i]), size, images.data() + i * image_bytes, ws);

  constexpr int kBorder = 4, kCaption = 2 * (kGlyphHeight + 3) + 2;
  const int cell_w = std::max(size, text_width("TREFOIL+CURL W+4") + 4);
  const int cell_h = size + kCaption;
  const int width = kBorder + per_class * (cell_w + kBorder);
  const int height = kBorder + knots::kNumClasses * (cell_h + kBorder);
  std::vector<uint8_t> grid(static_cast<size_t>(width) * static_cast<size_t>(height) * 3, 32);
  const uint8_t white[3] = {235, 235, 235}, grey[3] = {170, 170, 170};
  for (size_t i = 0; i < index.size(); ++i) {
    int x0 = kBorder + column[i] * (cell_w + kBorder) + (cell_w - size) / 2;
    int y0 = kBorder + label[i] * (cell_h + kBorder);
    for (int y = 0; y < size; ++y)
      std::memcpy(grid.data() + (static_cast<size_t>(y0 + y) * static_cast<size_t>(width) + static_cast<size_t>(x0)) * 3,
                  images.data() + i * image_bytes + static_cast<size_t>(y) * static_cast<size_t>(size) * 3,
                  static_cast<size_t>(size) * 3);
    int tx = kBorder + column[i] * (cell_w + kBorder) + 2;
    const knots::SampleInfo& info = infos[i];
    std::string second = std::string(kind_caption(info.kind)) + " W" + (info.writhe > 0 ? "+" : "") + std::to_string(info.writhe);
    draw_text(grid.data(), width, height, tx, y0 + size + 3, class_caption(info.label), white);
    draw_text(grid.data(), width, height, tx, y0 + size + 3 + kGlyphHeight + 3, second, grey);
  }
  knots::write_png(path, grid.data(), width, height);
}

}  // namespace knotnet::make_knots
