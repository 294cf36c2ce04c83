// Coverage by distance to segment. The one non-obvious choice: each row of a capsule's box is
// clipped to the columns whose centres can lie within reach of the segment before any distance
// is computed, and the square root is taken only in the one-pixel antialiased rim.
#include "io/knots/raster.h"

#include <algorithm>
#include <cmath>

namespace knotnet::knots {

void draw_capsule(uint8_t* coverage, int size, float ax, float ay, float bx, float by, float half_width) {
  const float reach = half_width + 0.5f;
  const float inner = std::max(half_width - 0.5f, 0.0f);
  const float reach2 = reach * reach, inner2 = inner * inner;
  const float dx = bx - ax, dy = by - ay;
  const float len2 = dx * dx + dy * dy;
  const float inv_len2 = len2 > 1e-12f ? 1.0f / len2 : 0.0f;
  int y0 = std::max(0, static_cast<int>(std::floor(std::min(ay, by) - reach - 0.5f)));
  int y1 = std::min(size - 1, static_cast<int>(std::ceil(std::max(ay, by) + reach - 0.5f)));
  const float xlo = std::min(ax, bx) - reach - 0.5f, xhi = std::max(ax, bx) + reach - 0.5f;
  // Along a row, the centre line is reached at x = ax + dx/dy * (py - ay); the capsule spans
  // at most reach * len / |dy| either side of it.
  const float len = std::sqrt(len2);
  const bool steep = std::abs(dy) > 0.5f * len;
  const float slope = steep ? dx / dy : 0.0f, halfspan = steep ? reach * len / std::abs(dy) : 0.0f;
  for (int y = y0; y <= y1; ++y) {
    const float py = static_cast<float>(y) + 0.5f - ay;
    float cx0 = xlo, cx1 = xhi;
    if (steep) {
      float centre = ax + slope * py - 0.5f;
      cx0 = std::max(cx0, centre - halfspan);
      cx1 = std::min(cx1, centre + halfspan);
    }
    int x0 = std::max(0, static_cast<int>(std::floor(cx0)));
    int x1 = std::min(size - 1, static_cast<int>(std::ceil(cx1)));
    uint8_t* row = coverage + static_cast<size_t>(y) * static_cast<size_t>(size);
    for (int x = x0; x <= x1; ++x) {
      const float px = static_cast<float>(x) + 0.5f - ax;
      float t = (px * dx + py * dy) * inv_len2;
      t = std::clamp(t, 0.0f, 1.0f);
      const float ex = px - t * dx, ey = py - t * dy;
      const float d2 = ex * ex + ey * ey;
      if (d2 >= reach2) continue;
      uint8_t c = 255;
      if (d2 > inner2) c = static_cast<uint8_t>((reach - std::sqrt(d2)) * 255.0f + 0.5f);
      if (c > row[x]) row[x] = c;
    }
  }
}

void stroke_coverage(const Diagram& d, const std::vector<ArcInterval>& gaps, double half_width,
                     std::vector<uint8_t>& coverage) {
  const int size = d.size;
  coverage.assign(static_cast<size_t>(size) * static_cast<size_t>(size), 0);
  const size_t n = d.x.size();
  const float hw = static_cast<float>(half_width);
  size_t first_gap = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t j = (i + 1) % n;
    const double s0 = d.arc[i], s1 = d.arc[i + 1];
    const double seg = s1 - s0;
    auto point = [&](double s, float* px, float* py) {
      double t = seg > 0 ? (s - s0) / seg : 0.0;
      *px = static_cast<float>(d.x[i] + t * (d.x[j] - d.x[i]));
      *py = static_cast<float>(d.y[i] + t * (d.y[j] - d.y[i]));
    };
    auto piece = [&](double a, double b) {
      float ax, ay, bx, by;
      point(a, &ax, &ay);
      point(b, &bx, &by);
      draw_capsule(coverage.data(), size, ax, ay, bx, by, hw);
    };
    while (first_gap < gaps.size() && gaps[first_gap].end <= s0) ++first_gap;
    double cur = s0;
    for (size_t k = first_gap; k < gaps.size() && gaps[k].begin < s1; ++k) {
      if (gaps[k].begin > cur) piece(cur, gaps[k].begin);
      cur = std::max(cur, gaps[k].end);
    }
    if (cur < s1) piece(cur, s1);
  }
}

}  // namespace knotnet::knots
