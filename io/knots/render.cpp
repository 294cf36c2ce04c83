// Draw, check, redraw, rasterise, paint. The order of draws from a sample's stream is fixed
// (curve kind, curve, placement, stroke width, then colours and noise), so changing it is a
// new generator version.
#include "io/knots/render.h"

#include <algorithm>

#include "engine/error.h"
#include "io/knots/kauffman.h"
#include "io/knots/raster.h"

namespace knotnet::knots {

int curve_points(int size) { return std::clamp(size * 5 / 2, 160, 4096); }

Geometry draw_geometry(KnotClass cls, int size, SampleRandom& rng, RenderWorkspace& ws) {
  Geometry g;
  g.kind = draw_curve_kind(cls, rng);
  CurveSpec spec = draw_curve_spec(cls, g.kind, rng);
  build_curve(spec, curve_points(size), ws.curve);
  const double pixel = size / 128.0;
  g.half_width = pixel * rng.uniform(0.75, 2.0);  // strokes 1.5 to 4 pixels wide at 128
  Placement place;
  place.fill = rng.uniform(0.55, 0.9);
  place.u = rng.uniform();
  place.v = rng.uniform();
  place.margin = g.half_width + 1.5;
  project_curve(ws.curve, size, place, ws.diagram);
  g.reject = find_crossings(ws.diagram, g.half_width, ws.scratch);
  return g;
}

Reject check_invariant(const Diagram& d, KnotClass cls) {
  auto found = identify_knot(jones_polynomial(gauss_code(d)));
  return found && *found == cls ? Reject::None : Reject::WrongInvariant;
}

SampleInfo render_sample(uint64_t seed, uint64_t index, KnotClass cls, int size, uint8_t* rgb, RenderWorkspace& ws) {
  KN_CHECK(size >= kMinImageSize && size <= kMaxImageSize, "image size must be between ", kMinImageSize, " and ",
           kMaxImageSize, " pixels, got ", size);
  KN_CHECK(index < (uint64_t{1} << 40), "sample index ", index, " is beyond the generator's 2^40 samples");
  SampleInfo info;
  info.label = cls;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    SampleRandom rng(seed, sample_stream(index, static_cast<int>(cls), attempt));
    Geometry g = draw_geometry(cls, size, rng, ws);
    if (g.reject == Reject::None) g.reject = check_invariant(ws.diagram, cls);
    if (g.reject != Reject::None) {
      info.rejects[static_cast<size_t>(g.reject)]++;
      continue;
    }
    info.kind = g.kind;
    info.attempts = attempt + 1;
    info.crossings = static_cast<int>(ws.diagram.crossings.size());
    info.writhe = diagram_writhe(ws.diagram);
    under_gaps(ws.diagram, g.half_width, ws.gaps);
    stroke_coverage(ws.diagram, ws.gaps, g.half_width, ws.coverage);
    Style style = draw_style(rng, size);
    paint_image(ws.coverage, size, style, rng, rgb);
    return info;
  }
  KN_THROW("sample ", index, " of class ", class_name(cls), " found no legible diagram in ", kMaxAttempts,
           " attempts (seed ", seed, ")");
}

}  // namespace knotnet::knots
