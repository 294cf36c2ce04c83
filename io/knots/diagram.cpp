// Projection, crossing detection and legibility checks. Segment pairs are found through a
// uniform grid: each segment is entered in the cells its bounding box (grown by half the
// clearance) touches, and a pair is examined only in the first cell the two share, so each
// pair is tested once and only pairs that could cross or touch are tested at all.
#include "io/knots/diagram.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace knotnet::knots {

namespace {

constexpr double kMinSinAngle = 0.45;   // strands cross at 27 degrees or more
constexpr double kMinDepthGap = 0.02;   // curve units (curves span about 6)
constexpr double kVisibleGap = 2.5;     // pixels between stroke edges that read as apart
constexpr double kSimplifyTolerance = 0.08;  // pixels a dropped vertex may lie off the polyline

double clearance_for(double half_width) { return 2 * half_width + kVisibleGap; }

double cyclic_distance(double a, double b, double length) {
  double d = std::abs(a - b);
  return std::min(d, length - d);
}

// The sign of a crossing from the directions of its over- and under-strand in image
// coordinates. With y up the crossing is positive when cross(over, under) > 0; the image's
// row axis points down, which negates the cross product.
int crossing_sign(double ox, double oy, double ux, double uy) { return (ox * uy - oy * ux) < 0 ? 1 : -1; }

// Distance from point p to segment a-b, and the parameter of the closest point.
double point_segment(double px, double py, double ax, double ay, double bx, double by, double* t_out) {
  double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
  double t = len2 > 0 ? std::clamp(((px - ax) * dx + (py - ay) * dy) / len2, 0.0, 1.0) : 0.0;
  double ex = px - ax - t * dx, ey = py - ay - t * dy;
  *t_out = t;
  return std::sqrt(ex * ex + ey * ey);
}

}  // namespace

std::string_view reject_name(Reject r) {
  switch (r) {
    case Reject::None: return "none";
    case Reject::Degenerate: return "degenerate";
    case Reject::TooManyCrossings: return "too_many_crossings";
    case Reject::ShallowCrossing: return "shallow_crossing";
    case Reject::DepthTie: return "depth_tie";
    case Reject::CrowdedCrossings: return "crowded_crossings";
    case Reject::NearMiss: return "near_miss";
    case Reject::WrongInvariant: return "wrong_invariant";
  }
  return "?";
}

void project_curve(const std::vector<Vec3>& curve, int size, const Placement& p, Diagram& d) {
  KN_CHECK(curve.size() >= 3, "a curve to project needs at least 3 points, got ", curve.size());
  KN_CHECK(size > 2 * p.margin + 4, "image size ", size, " leaves no room inside a margin of ", p.margin);
  double xmin = curve[0].x, xmax = xmin, ymin = curve[0].y, ymax = ymin;
  for (const Vec3& v : curve) {
    xmin = std::min(xmin, v.x);
    xmax = std::max(xmax, v.x);
    ymin = std::min(ymin, v.y);
    ymax = std::max(ymax, v.y);
  }
  double w = xmax - xmin, h = ymax - ymin, extent = std::max({w, h, 1e-9});
  double usable = size - 2 * p.margin;
  double scale = p.fill * usable / extent;
  double ox = p.margin + p.u * (usable - scale * w), oy = p.margin + p.v * (usable - scale * h);
  size_t n = curve.size();
  d.size = size;
  d.x.resize(n);
  d.y.resize(n);
  d.depth.resize(n);
  d.arc.resize(n + 1);
  for (size_t i = 0; i < n; ++i) {
    d.x[i] = ox + (curve[i].x - xmin) * scale;
    d.y[i] = oy + (ymax - curve[i].y) * scale;
    d.depth[i] = curve[i].z;
  }
  // Drop vertices while the polyline moves by less than kSimplifyTolerance pixels: smooth
  // stretches become a few long segments, which is what makes crossing search and stroking
  // cheap. Kept vertices are a subsequence, so the compaction works in place.
  size_t kept = 1;
  for (size_t anchor = 0; anchor < n;) {
    size_t end = anchor + 1;
    while (end + 1 <= n) {
      size_t cand = end + 1;  // try to reach vertex cand (n means vertex 0 again)
      const size_t ci = cand % n;
      const double ax = d.x[anchor], ay = d.y[anchor], dx = d.x[ci] - ax, dy = d.y[ci] - ay;
      const double len2 = dx * dx + dy * dy;
      bool ok = cand <= n && len2 > 0;
      for (size_t i = anchor + 1; ok && i < cand; ++i) {
        const double px = d.x[i] - ax, py = d.y[i] - ay;
        const double t = std::clamp((px * dx + py * dy) / len2, 0.0, 1.0);
        const double ex = px - t * dx, ey = py - t * dy;
        ok = ex * ex + ey * ey <= kSimplifyTolerance * kSimplifyTolerance;
      }
      if (!ok) break;
      end = cand;
    }
    if (end >= n) break;
    d.x[kept] = d.x[end];
    d.y[kept] = d.y[end];
    d.depth[kept] = d.depth[end];
    ++kept;
    anchor = end;
  }
  n = kept;
  d.x.resize(n);
  d.y.resize(n);
  d.depth.resize(n);
  d.arc.resize(n + 1);

  d.arc[0] = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t j = (i + 1) % n;
    const double ex = d.x[j] - d.x[i], ey = d.y[j] - d.y[i];
    d.arc[i + 1] = d.arc[i] + std::sqrt(ex * ex + ey * ey);
  }
  d.length = d.arc[n];
  d.crossings.clear();
}

double gap_half_length(const Crossing& c, double half_width) {
  // Along the under-strand: the over-stroke with its antialiased rim reaches (w + 0.5) / sin,
  // then comes a fully clear stretch, then the under-stroke's round cap (w + 0.5).
  const double reach = half_width + 0.5;
  return reach / c.sin_angle + std::max(1.5, half_width) + reach;
}

Reject find_crossings(Diagram& d, double half_width, DiagramWorkspace& ws) {
  const int n = static_cast<int>(d.x.size());
  d.crossings.clear();
  ws.near_pairs.clear();
  const double clearance = clearance_for(half_width);
  const double fold_arc = 3 * clearance;  // closer than this along the curve: same strand
  const double cell = std::max(4.0, clearance + 2);
  const int grid = static_cast<int>(std::ceil(d.size / cell)) + 1;
  auto cell_of = [&](double v) { return std::clamp(static_cast<int>(std::floor(v / cell)), 0, grid - 1); };

  // Counting sort of segments into cells.
  ws.seg_cells.resize(static_cast<size_t>(4 * n));
  ws.cell_start.assign(static_cast<size_t>(grid * grid + 1), 0);
  double max_segment = 0;
  for (int i = 0; i < n; ++i) {
    int j = (i + 1) % n;
    double e = clearance / 2;
    int* c = &ws.seg_cells[static_cast<size_t>(4 * i)];
    c[0] = cell_of(std::min(d.x[i], d.x[j]) - e);
    c[1] = cell_of(std::min(d.y[i], d.y[j]) - e);
    c[2] = cell_of(std::max(d.x[i], d.x[j]) + e);
    c[3] = cell_of(std::max(d.y[i], d.y[j]) + e);
    for (int cy = c[1]; cy <= c[3]; ++cy)
      for (int cx = c[0]; cx <= c[2]; ++cx) ws.cell_start[static_cast<size_t>(cy * grid + cx + 1)]++;
    max_segment = std::max(max_segment, d.arc[static_cast<size_t>(i + 1)] - d.arc[static_cast<size_t>(i)]);
  }
  for (size_t k = 1; k < ws.cell_start.size(); ++k) ws.cell_start[k] += ws.cell_start[k - 1];
  ws.cell_items.resize(static_cast<size_t>(ws.cell_start.back()));
  ws.cell_cursor.assign(ws.cell_start.begin(), ws.cell_start.end() - 1);
  for (int i = 0; i < n; ++i) {
    const int* c = &ws.seg_cells[static_cast<size_t>(4 * i)];
    for (int cy = c[1]; cy <= c[3]; ++cy)
      for (int cx = c[0]; cx <= c[2]; ++cx)
        ws.cell_items[static_cast<size_t>(ws.cell_cursor[static_cast<size_t>(cy * grid + cx)]++)] = i;
  }

  for (int cy = 0; cy < grid; ++cy)
    for (int cx = 0; cx < grid; ++cx) {
      int begin = ws.cell_start[static_cast<size_t>(cy * grid + cx)], end = ws.cell_start[static_cast<size_t>(cy * grid + cx + 1)];
      for (int p = begin; p < end; ++p)
        for (int q = p + 1; q < end; ++q) {
          int a = ws.cell_items[static_cast<size_t>(p)], b = ws.cell_items[static_cast<size_t>(q)];
          const int* ca = &ws.seg_cells[static_cast<size_t>(4 * a)];
          const int* cb = &ws.seg_cells[static_cast<size_t>(4 * b)];
          if (std::max(ca[0], cb[0]) != cx || std::max(ca[1], cb[1]) != cy) continue;  // seen elsewhere
          int diff = std::abs(a - b);
          if (diff == 1 || diff == n - 1) continue;  // neighbours share a vertex
          int a1 = (a + 1) % n, b1 = (b + 1) % n;
          const double a_arc = d.arc[static_cast<size_t>(a)], b_arc = d.arc[static_cast<size_t>(b)];
          const double rlen = d.arc[static_cast<size_t>(a + 1)] - a_arc, slen = d.arc[static_cast<size_t>(b + 1)] - b_arc;
          double ax = d.x[static_cast<size_t>(a)], ay = d.y[static_cast<size_t>(a)];
          double rx = d.x[static_cast<size_t>(a1)] - ax, ry = d.y[static_cast<size_t>(a1)] - ay;
          double bx = d.x[static_cast<size_t>(b)], by = d.y[static_cast<size_t>(b)];
          double sx = d.x[static_cast<size_t>(b1)] - bx, sy = d.y[static_cast<size_t>(b1)] - by;
          // Pieces close along the curve are only tested for crossing, and only when their
          // boxes overlap; far pieces are also tested for coming close.
          const bool far = cyclic_distance(a_arc, b_arc, d.length) > fold_arc;
          const double pad = far ? clearance : 0.0;
          if (std::min(ax, ax + rx) > std::max(bx, bx + sx) + pad || std::min(bx, bx + sx) > std::max(ax, ax + rx) + pad ||
              std::min(ay, ay + ry) > std::max(by, by + sy) + pad || std::min(by, by + sy) > std::max(ay, ay + ry) + pad)
            continue;
          double denom = rx * sy - ry * sx;
          double qx = bx - ax, qy = by - ay;
          if (std::abs(denom) <= 1e-12 * rlen * slen) {
            // Parallel: overlapping collinear segments make over/under undefined.
            if (std::abs(qx * ry - qy * rx) <= 1e-9 * rlen * (rlen + 1)) {
              double t0 = (qx * rx + qy * ry) / (rlen * rlen), t1 = ((qx + sx) * rx + (qy + sy) * ry) / (rlen * rlen);
              if (std::max(t0, t1) >= 0 && std::min(t0, t1) <= 1) return Reject::Degenerate;
            }
          } else {
            double t = (qx * sy - qy * sx) / denom, u = (qx * ry - qy * rx) / denom;
            if (t >= 0 && t < 1 && u >= 0 && u < 1) {
              double za = d.depth[static_cast<size_t>(a)] + t * (d.depth[static_cast<size_t>(a1)] - d.depth[static_cast<size_t>(a)]);
              double zb = d.depth[static_cast<size_t>(b)] + u * (d.depth[static_cast<size_t>(b1)] - d.depth[static_cast<size_t>(b)]);
              Crossing c;
              double arc_a = d.arc[static_cast<size_t>(a)] + t * rlen, arc_b = d.arc[static_cast<size_t>(b)] + u * slen;
              bool a_over = za > zb;
              c.over_segment = a_over ? a : b;
              c.under_segment = a_over ? b : a;
              c.over_arc = a_over ? arc_a : arc_b;
              c.under_arc = a_over ? arc_b : arc_a;
              c.x = ax + t * rx;
              c.y = ay + t * ry;
              c.sign = a_over ? crossing_sign(rx, ry, sx, sy) : crossing_sign(sx, sy, rx, ry);
              c.sin_angle = std::abs(denom) / (rlen * slen);
              c.depth_gap = std::abs(za - zb);
              d.crossings.push_back(c);
              if (static_cast<int>(d.crossings.size()) > kMaxCrossings) return Reject::TooManyCrossings;
              continue;
            }
          }
          // Not crossing: do the two pieces, far apart along the curve, come close?
          double best = 1e300, arc_a = 0, arc_b = 0, tt = 0;
          auto consider = [&](double dist, double pa, double pb) {
            if (dist < best) {
              best = dist;
              arc_a = pa;
              arc_b = pb;
            }
          };
          if (!far) continue;
          consider(point_segment(ax, ay, bx, by, bx + sx, by + sy, &tt), a_arc, b_arc + tt * slen);
          consider(point_segment(ax + rx, ay + ry, bx, by, bx + sx, by + sy, &tt), a_arc + rlen, b_arc + tt * slen);
          consider(point_segment(bx, by, ax, ay, ax + rx, ay + ry, &tt), a_arc + tt * rlen, b_arc);
          consider(point_segment(bx + sx, by + sy, ax, ay, ax + rx, ay + ry, &tt), a_arc + tt * rlen, b_arc + slen);
          if (best < clearance && cyclic_distance(arc_a, arc_b, d.length) > fold_arc)
            ws.near_pairs.push_back({arc_a, arc_b});
        }
    }

  for (const Crossing& c : d.crossings) {
    if (c.sin_angle < kMinSinAngle) return Reject::ShallowCrossing;
    if (c.depth_gap < kMinDepthGap) return Reject::DepthTie;
  }
  for (size_t i = 0; i < d.crossings.size(); ++i)
    for (size_t j = i + 1; j < d.crossings.size(); ++j)
      if (std::sqrt((d.crossings[i].x - d.crossings[j].x) * (d.crossings[i].x - d.crossings[j].x) +
                    (d.crossings[i].y - d.crossings[j].y) * (d.crossings[i].y - d.crossings[j].y)) < 2 * clearance)
        return Reject::CrowdedCrossings;

  // Along the curve, each passage needs room: an under-passage for its gap, an over-passage
  // for the stretch that covers the other strand.
  ws.passages.clear();
  for (size_t i = 0; i < d.crossings.size(); ++i) {
    const Crossing& c = d.crossings[i];
    ws.passages.push_back({c.over_arc, static_cast<int>(2 * i)});
    ws.passages.push_back({c.under_arc, static_cast<int>(2 * i + 1)});
  }
  std::sort(ws.passages.begin(), ws.passages.end());
  auto room = [&](int tag) {
    const Crossing& c = d.crossings[static_cast<size_t>(tag / 2)];
    return (tag % 2) ? gap_half_length(c, half_width) + 1 : half_width / c.sin_angle + half_width;
  };
  for (size_t k = 0; ws.passages.size() >= 2 && k < ws.passages.size(); ++k) {
    const auto& p = ws.passages[k];
    const auto& q = ws.passages[(k + 1) % ws.passages.size()];
    double gap = q.first - p.first;
    if (gap < 0) gap += d.length;
    if (gap < room(p.second) + room(q.second)) return Reject::CrowdedCrossings;
  }

  // Close strands are fine only next to a crossing of those same two strands.
  for (const auto& np : ws.near_pairs) {
    bool excused = false;
    for (const Crossing& c : d.crossings) {
      double reach = clearance / c.sin_angle + 2 + max_segment;
      if ((cyclic_distance(np.arc_a, c.over_arc, d.length) <= reach && cyclic_distance(np.arc_b, c.under_arc, d.length) <= reach) ||
          (cyclic_distance(np.arc_a, c.under_arc, d.length) <= reach && cyclic_distance(np.arc_b, c.over_arc, d.length) <= reach)) {
        excused = true;
        break;
      }
    }
    if (!excused) return Reject::NearMiss;
  }
  return Reject::None;
}

GaussCode gauss_code(const Diagram& d) {
  std::vector<std::pair<double, Passage>> order;
  order.reserve(2 * d.crossings.size());
  GaussCode code;
  for (size_t i = 0; i < d.crossings.size(); ++i) {
    order.push_back({d.crossings[i].over_arc, Passage{static_cast<int>(i), true}});
    order.push_back({d.crossings[i].under_arc, Passage{static_cast<int>(i), false}});
    code.signs.push_back(d.crossings[i].sign);
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& o : order) code.passages.push_back(o.second);
  return code;
}

int diagram_writhe(const Diagram& d) {
  int w = 0;
  for (const Crossing& c : d.crossings) w += c.sign;
  return w;
}

void under_gaps(const Diagram& d, double half_width, std::vector<ArcInterval>& gaps) {
  gaps.clear();
  const double len = d.length;
  for (const Crossing& c : d.crossings) {
    double g = gap_half_length(c, half_width);
    double b = c.under_arc - g, e = c.under_arc + g;
    if (b < 0) {
      gaps.push_back({b + len, len});
      gaps.push_back({0, e});
    } else if (e > len) {
      gaps.push_back({b, len});
      gaps.push_back({0, e - len});
    } else {
      gaps.push_back({b, e});
    }
  }
  std::sort(gaps.begin(), gaps.end(), [](const ArcInterval& a, const ArcInterval& b) { return a.begin < b.begin; });
  // Merge overlaps (legible diagrams have none, but the raster relies on disjoint intervals).
  size_t out = 0;
  for (size_t i = 0; i < gaps.size(); ++i) {
    if (out > 0 && gaps[i].begin <= gaps[out - 1].end) gaps[out - 1].end = std::max(gaps[out - 1].end, gaps[i].end);
    else gaps[out++] = gaps[i];
  }
  gaps.resize(out);
}

}  // namespace knotnet::knots
