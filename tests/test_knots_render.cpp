// Rendering: the same bytes for any thread count, images that are not blank, a rasteriser that
// agrees with a slow reference (distance to the drawn pieces, computed here independently), and
// a clear gap in the under-strand at every crossing.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "engine/error.h"
#include "io/knots/diagram.h"
#include "io/knots/raster.h"
#include "io/knots/render.h"
#include "io/knots/render_pool.h"

namespace knotnet::knots {
namespace {

std::vector<uint8_t> mixed_labels(int n) {
  std::vector<uint8_t> labels(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = static_cast<uint8_t>((i * 7 + i / 5) % 3);
  return labels;
}

std::vector<uint8_t> render_block_with(int threads, uint64_t seed, uint64_t first, const std::vector<uint8_t>& labels, int size) {
  std::vector<uint8_t> images(labels.size() * static_cast<size_t>(size * size * 3), 0xAB);
  RenderPool pool(threads);
  BlockRequest r;
  r.seed = seed;
  r.first_index = first;
  r.labels = labels.data();
  r.count = static_cast<int64_t>(labels.size());
  r.size = size;
  r.images = images.data();
  pool.render(r);
  return images;
}

TEST(KnotsRender, SameBytesForAnyThreadCount) {
  const int size = 64;
  auto labels = mixed_labels(40);
  auto one = render_block_with(1, 99, 1000, labels, size);
  auto three = render_block_with(3, 99, 1000, labels, size);
  EXPECT_EQ(one, three);
  // A row rendered on its own equals the row in the block.
  std::vector<uint8_t> alone(static_cast<size_t>(size * size * 3));
  RenderWorkspace ws;
  render_sample(99, 1017, class_from_label(labels[17]), size, alone.data(), ws);
  EXPECT_EQ(0, std::memcmp(alone.data(), one.data() + 17 * alone.size(), alone.size()));
}

TEST(KnotsRender, SeedIndexAndClassEachChangeTheImage) {
  const int size = 64;
  const size_t bytes = static_cast<size_t>(size * size * 3);
  std::vector<uint8_t> a(bytes), b(bytes), c(bytes), d(bytes), again(bytes);
  RenderWorkspace ws;
  render_sample(1, 5, KnotClass::PlusTrefoil, size, a.data(), ws);
  render_sample(2, 5, KnotClass::PlusTrefoil, size, b.data(), ws);
  render_sample(1, 6, KnotClass::PlusTrefoil, size, c.data(), ws);
  render_sample(1, 5, KnotClass::MinusTrefoil, size, d.data(), ws);
  render_sample(1, 5, KnotClass::PlusTrefoil, size, again.data(), ws);
  EXPECT_EQ(a, again);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
}

TEST(KnotsRender, ImagesAreNotBlankAndTheStrokeStandsOut) {
  const int size = 128;
  std::vector<uint8_t> img(static_cast<size_t>(size * size * 3));
  RenderWorkspace ws;
  for (int i = 0; i < 30; ++i) {
    KnotClass cls = class_from_label(i % 3);
    SampleInfo info = render_sample(7, static_cast<uint64_t>(i), cls, size, img.data(), ws);
    EXPECT_EQ(info.label, cls);
    EXPECT_GE(info.attempts, 1);
    // Luminance of each pixel; stroke pixels sit at least 60 levels (90 less the gradient's
    // 30) from the background, noise adds at most 8.
    std::vector<float> lum(static_cast<size_t>(size * size));
    for (size_t p = 0; p < lum.size(); ++p)
      lum[p] = 0.299f * img[3 * p] + 0.587f * img[3 * p + 1] + 0.114f * img[3 * p + 2];
    std::vector<float> sorted = lum;
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<long>(sorted.size() / 2), sorted.end());
    float median = sorted[sorted.size() / 2];
    size_t far = static_cast<size_t>(std::count_if(lum.begin(), lum.end(), [&](float v) { return std::abs(v - median) > 40; }));
    double frac = static_cast<double>(far) / static_cast<double>(lum.size());
    EXPECT_GT(frac, 0.01) << "sample " << i << " looks blank";
    EXPECT_LT(frac, 0.35) << "sample " << i << " is mostly stroke";
  }
}

// The drawn pieces of the polyline: its segments less the gap intervals, as (ax, ay, bx, by).
std::vector<std::array<double, 4>> drawn_pieces(const Diagram& d, const std::vector<ArcInterval>& gaps) {
  std::vector<std::array<double, 4>> pieces;
  const size_t n = d.x.size();
  for (size_t i = 0; i < n; ++i) {
    size_t j = (i + 1) % n;
    double s0 = d.arc[i], s1 = d.arc[i + 1];
    std::vector<std::pair<double, double>> parts{{s0, s1}};
    for (const ArcInterval& g : gaps) {
      std::vector<std::pair<double, double>> next;
      for (auto [a, b] : parts) {
        if (g.end <= a || g.begin >= b) {
          next.push_back({a, b});
          continue;
        }
        if (g.begin > a) next.push_back({a, g.begin});
        if (g.end < b) next.push_back({g.end, b});
      }
      parts = next;
    }
    for (auto [a, b] : parts) {
      double ta = s1 > s0 ? (a - s0) / (s1 - s0) : 0, tb = s1 > s0 ? (b - s0) / (s1 - s0) : 0;
      pieces.push_back({d.x[i] + ta * (d.x[j] - d.x[i]), d.y[i] + ta * (d.y[j] - d.y[i]), d.x[i] + tb * (d.x[j] - d.x[i]),
                        d.y[i] + tb * (d.y[j] - d.y[i])});
    }
  }
  return pieces;
}

// Reference coverage at (px, py): clamp(w + 0.5 - distance to the nearest drawn piece, 0, 1).
double reference_coverage(const std::vector<std::array<double, 4>>& pieces, double w, double px, double py) {
  double best = 1e300;
  for (const auto& p : pieces) {
    double dx = p[2] - p[0], dy = p[3] - p[1], len2 = dx * dx + dy * dy;
    double t = len2 > 0 ? std::clamp(((px - p[0]) * dx + (py - p[1]) * dy) / len2, 0.0, 1.0) : 0.0;
    best = std::min(best, std::hypot(px - p[0] - t * dx, py - p[1] - t * dy));
  }
  return std::clamp(w + 0.5 - best, 0.0, 1.0);
}

// The point at arc length s along the polyline.
std::pair<double, double> point_at(const Diagram& d, double s) {
  s = std::fmod(s + d.length, d.length);
  size_t i = static_cast<size_t>(std::upper_bound(d.arc.begin(), d.arc.end(), s) - d.arc.begin()) - 1;
  i = std::min(i, d.x.size() - 1);
  size_t j = (i + 1) % d.x.size();
  double t = (s - d.arc[i]) / std::max(d.arc[i + 1] - d.arc[i], 1e-12);
  return {d.x[i] + t * (d.x[j] - d.x[i]), d.y[i] + t * (d.y[j] - d.y[i])};
}

Diagram standard_trefoil(int size, double half_width) {
  CurveSpec s = standard_curve_spec(CurveKind::Trefoil, 1);
  s.family = 0;
  s.shape = 2.0;
  std::vector<Vec3> curve;
  build_curve(s, 600, curve);
  Diagram d;
  Placement p;
  p.fill = 0.8;
  project_curve(curve, size, p, d);
  DiagramWorkspace ws;
  EXPECT_EQ(find_crossings(d, half_width, ws), Reject::None);
  return d;
}

TEST(KnotsRender, RasterAgreesWithTheReferenceCoverage) {
  // Tolerance: one level of 255 for float rounding.
  for (double w : {0.75, 1.6, 3.0}) {
    Diagram d = standard_trefoil(64, w);
    std::vector<ArcInterval> gaps;
    under_gaps(d, w, gaps);
    std::vector<uint8_t> cov;
    stroke_coverage(d, gaps, w, cov);
    ASSERT_EQ(cov.size(), 64u * 64u);
    auto pieces = drawn_pieces(d, gaps);
    int worst = 0;
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x) {
        int ref = static_cast<int>(std::lround(255 * reference_coverage(pieces, w, x + 0.5, y + 0.5)));
        worst = std::max(worst, std::abs(ref - cov[static_cast<size_t>(y * 64 + x)]));
      }
    EXPECT_LE(worst, 1) << "half-width " << w;
  }
}

// At every crossing: the over-strand is fully drawn at the crossing point; along the
// under-strand, the middle of the clear stretch has no coverage at all, and beyond the gap the
// under-strand is drawn again.
void expect_gaps(const Diagram& d, double w, const std::string& what) {
  std::vector<ArcInterval> gaps;
  under_gaps(d, w, gaps);
  auto pieces = drawn_pieces(d, gaps);
  for (const Crossing& c : d.crossings) {
    EXPECT_DOUBLE_EQ(reference_coverage(pieces, w, c.x, c.y), 1.0) << what;
    double clear_mid = (w + 0.5) / c.sin_angle + std::max(1.5, w) / 2;
    double beyond = gap_half_length(c, w) + 1.0;
    for (int side : {-1, 1}) {
      auto [gx, gy] = point_at(d, c.under_arc + side * clear_mid);
      EXPECT_EQ(reference_coverage(pieces, w, gx, gy), 0.0) << what << ": no gap beside crossing at " << c.x << "," << c.y;
      auto [bx, by] = point_at(d, c.under_arc + side * beyond);
      EXPECT_DOUBLE_EQ(reference_coverage(pieces, w, bx, by), 1.0) << what << ": under-strand missing past the gap";
    }
  }
}

TEST(KnotsRender, UnderStrandHasAClearGapAtEveryCrossing) {
  for (double w : {0.75, 2.0, 3.5}) {
    Diagram d = standard_trefoil(256, w);
    ASSERT_EQ(d.crossings.size(), 3u);
    expect_gaps(d, w, "standard trefoil");
    // The raster shows it too: the pixel nearest the middle of the clear stretch is at most
    // half covered (its centre is within 0.71 pixels of that point), the crossing's is covered.
    std::vector<ArcInterval> gaps;
    under_gaps(d, w, gaps);
    std::vector<uint8_t> cov;
    stroke_coverage(d, gaps, w, cov);
    for (const Crossing& c : d.crossings) {
      // The pixel holding the crossing has its centre within sqrt(1/2) of the over-strand.
      const double least = 255 * std::min(1.0, w + 0.5 - std::sqrt(0.5));
      EXPECT_GE(cov[static_cast<size_t>(std::floor(c.y)) * 256 + static_cast<size_t>(std::floor(c.x))], least - 1);
      auto [gx, gy] = point_at(d, c.under_arc + (w + 0.5) / c.sin_angle + std::max(1.5, w) / 2);
      EXPECT_LE(cov[static_cast<size_t>(std::floor(gy)) * 256 + static_cast<size_t>(std::floor(gx))], 128);
    }
    // Without gaps the same point is covered: the check above can fail.
    std::vector<uint8_t> solid;
    stroke_coverage(d, {}, w, solid);
    const Crossing& c = d.crossings[0];
    auto [gx, gy] = point_at(d, c.under_arc + (w + 0.5) / c.sin_angle + std::max(1.5, w) / 2);
    EXPECT_EQ(solid[static_cast<size_t>(std::floor(gy)) * 256 + static_cast<size_t>(std::floor(gx))], 255);
  }
}

TEST(KnotsRender, RandomSamplesHaveGapsAtEveryCrossing) {
  RenderWorkspace ws;
  int crossings = 0;
  for (uint64_t index = 0; index < 24; ++index) {
    KnotClass cls = class_from_label(static_cast<int>(index % 3));
    for (int attempt = 0;; ++attempt) {
      ASSERT_LT(attempt, 50);
      SampleRandom rng(31, sample_stream(index, static_cast<int>(cls), attempt));
      Geometry g = draw_geometry(cls, 128, rng, ws);
      if (g.reject != Reject::None || check_invariant(ws.diagram, cls) != Reject::None) continue;
      expect_gaps(ws.diagram, g.half_width, "sample " + std::to_string(index));
      crossings += static_cast<int>(ws.diagram.crossings.size());
      break;
    }
  }
  EXPECT_GT(crossings, 40);
}

TEST(KnotsRender, OtherImageSizesRender) {
  RenderWorkspace ws;
  for (int size : {32, 96, 200}) {
    std::vector<uint8_t> img(static_cast<size_t>(size * size * 3));
    for (int label = 0; label < kNumClasses; ++label) {
      SampleInfo info = render_sample(3, 11, class_from_label(label), size, img.data(), ws);
      EXPECT_EQ(static_cast<int>(info.label), label);
      auto [lo, hi] = std::minmax_element(img.begin(), img.end());
      EXPECT_GT(*hi - *lo, 40) << "size " << size;
    }
  }
  std::vector<uint8_t> img(16 * 16 * 3);
  EXPECT_THROW(render_sample(3, 11, KnotClass::Unknot, 16, img.data(), ws), Error);
}

}  // namespace
}  // namespace knotnet::knots
