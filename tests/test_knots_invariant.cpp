// The Jones polynomial from crossing lists: hand-made diagrams with values from the literature,
// the crossing signs the geometry produces, and thousands of random diagrams per class whose
// invariant must name the class they were drawn for. No rasterising here: geometry -> crossings
// -> invariant only, so the test stays fast under AddressSanitizer.
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "engine/error.h"
#include "io/knots/curves.h"
#include "io/knots/diagram.h"
#include "io/knots/kauffman.h"
#include "io/knots/render.h"

namespace knotnet::knots {
namespace {

// A Gauss code from a string like "O0 U1 O2 U0 O1 U2" and the crossing signs.
GaussCode code(const std::string& passages, std::vector<int> signs) {
  GaussCode g;
  g.signs = std::move(signs);
  for (size_t i = 0; i < passages.size(); ++i) {
    if (passages[i] != 'O' && passages[i] != 'U') continue;
    g.passages.push_back({passages[i + 1] - '0', passages[i] == 'O'});
  }
  return g;
}

const LaurentPolynomial kOne{0, {1}};
const LaurentPolynomial kRightTrefoil{1, {1, 0, 1, -1}};   // t + t^3 - t^4
const LaurentPolynomial kLeftTrefoil{-4, {-1, 1, 0, 1}};   // -t^-4 + t^-3 + t^-1
const LaurentPolynomial kFigureEight{-2, {1, -1, 1, -1, 1}};  // t^-2 - t^-1 + 1 - t + t^2

TEST(KnotsInvariant, EmptyDiagramIsTheUnknot) {
  GaussCode none;
  EXPECT_EQ(kauffman_bracket(none), kOne);
  EXPECT_EQ(jones_polynomial(none), kOne);
  EXPECT_EQ(identify_knot(jones_polynomial(none)), KnotClass::Unknot);
}

TEST(KnotsInvariant, CurlsHaveBracketMinusAToTheThreeWrithe) {
  // Reidemeister I: <positive curl> = -A^3, <negative curl> = -A^-3; both are unknots.
  GaussCode plus = code("O0 U0", {1}), minus = code("O0 U0", {-1});
  EXPECT_EQ(kauffman_bracket(plus), (LaurentPolynomial{3, {-1}}));
  EXPECT_EQ(kauffman_bracket(minus), (LaurentPolynomial{-3, {-1}}));
  EXPECT_EQ(jones_polynomial(plus), kOne);
  EXPECT_EQ(jones_polynomial(minus), kOne);
  EXPECT_EQ(writhe(plus), 1);
}

TEST(KnotsInvariant, StandardPlusTrefoil) {
  GaussCode t = code("O0 U1 O2 U0 O1 U2", {1, 1, 1});
  EXPECT_EQ(writhe(t), 3);
  // The skein relation gives V = t + t^3 - t^4 for the right-handed trefoil (writhe 3), so
  // <D> = (-A^3)^3 V(A^-4) = -A^9 (A^-4 + A^-12 - A^-16) = -A^5 - A^-3 + A^-7.
  EXPECT_EQ(kauffman_bracket(t), (LaurentPolynomial{-7, {1, 0, 0, 0, -1, 0, 0, 0, 0, 0, 0, 0, -1}}));
  EXPECT_EQ(jones_polynomial(t), kRightTrefoil) << jones_polynomial(t).str();
  EXPECT_EQ(identify_knot(jones_polynomial(t)), KnotClass::PlusTrefoil);
}

TEST(KnotsInvariant, MirrorTrefoil) {
  // Reflecting the diagram in a line keeps over/under and flips every sign.
  GaussCode t = code("O0 U1 O2 U0 O1 U2", {-1, -1, -1});
  EXPECT_EQ(jones_polynomial(t), kLeftTrefoil) << jones_polynomial(t).str();
  EXPECT_EQ(identify_knot(jones_polynomial(t)), KnotClass::MinusTrefoil);
  // Reflecting in the projection plane swaps over/under and also flips the signs.
  GaussCode swapped = code("U0 O1 U2 O0 U1 O2", {-1, -1, -1});
  EXPECT_EQ(jones_polynomial(swapped), kLeftTrefoil);
}

TEST(KnotsInvariant, TrefoilWithOneCrossingSwitchedIsTheUnknot) {
  // Switching crossing 2 swaps its over/under passages and flips its sign.
  for (int which = 0; which < 3; ++which) {
    GaussCode t = code("O0 U1 O2 U0 O1 U2", {1, 1, 1});
    for (auto& p : t.passages)
      if (p.crossing == which) p.over = !p.over;
    t.signs[static_cast<size_t>(which)] = -1;
    EXPECT_EQ(jones_polynomial(t), kOne) << "crossing " << which << ": " << jones_polynomial(t).str();
    EXPECT_EQ(identify_knot(jones_polynomial(t)), KnotClass::Unknot);
  }
}

TEST(KnotsInvariant, ReidemeisterTwoAndACurlOnATrefoilChangeNothing) {
  EXPECT_EQ(jones_polynomial(code("O0 O1 U0 U1", {1, -1})), kOne);
  // A negative curl (crossing 3) inserted into the plus trefoil: writhe 2, still plus.
  GaussCode t = code("O0 U1 O3 U3 O2 U0 O1 U2", {1, 1, 1, -1});
  EXPECT_EQ(writhe(t), 2);
  EXPECT_EQ(identify_knot(jones_polynomial(t)), KnotClass::PlusTrefoil);
}

TEST(KnotsInvariant, MalformedGaussCodesAreRejectedWithAMessage) {
  try {
    jones_polynomial(code("O0 O0", {1}));
    FAIL() << "a crossing passed over twice was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("once over and once under"), std::string::npos) << e.what();
  }
  EXPECT_THROW(jones_polynomial(code("O0 U0 O1", {1, 1})), Error);
  EXPECT_THROW(jones_polynomial(code("O0 U0", {0})), Error);
}

TEST(KnotsInvariant, PolynomialsPrintReadably) {
  EXPECT_EQ(kRightTrefoil.str(), "t + t^3 - t^4");
  EXPECT_EQ(kLeftTrefoil.str(), "-t^-4 + t^-3 + t^-1");
  EXPECT_EQ(kOne.str(), "1");
}

// ---- geometry -> crossings ------------------------------------------------------------------

Diagram project_standard(const std::vector<Vec3>& curve, double half_width, Reject* reject) {
  Diagram d;
  DiagramWorkspace ws;
  Placement p;
  p.fill = 0.8;
  project_curve(curve, 256, p, d);
  *reject = find_crossings(d, half_width, ws);
  return d;
}

TEST(KnotsInvariant, CrossingSignFollowsTheRightHandRule) {
  // A bow-tie in image coordinates (rows grow downwards): A(10,90) -> B(90,10) -> C(90,90) ->
  // D(10,10). On screen AB runs up and to the right, CD up and to the left. With AB over, this
  // is the textbook positive crossing; with CD over, the negative one.
  for (int ab_over : {1, 0}) {
    Diagram d;
    d.size = 100;
    d.x = {10, 90, 90, 10};
    d.y = {90, 10, 90, 10};
    d.depth = ab_over ? std::vector<double>{1, 1, 0, 0} : std::vector<double>{0, 0, 1, 1};
    d.arc = {0};
    for (size_t i = 0; i < 4; ++i) d.arc.push_back(d.arc.back() + std::hypot(d.x[(i + 1) % 4] - d.x[i], d.y[(i + 1) % 4] - d.y[i]));
    d.length = d.arc.back();
    DiagramWorkspace ws;
    find_crossings(d, 1.0, ws);
    ASSERT_EQ(d.crossings.size(), 1u);
    EXPECT_EQ(d.crossings[0].sign, ab_over ? 1 : -1);
    EXPECT_NEAR(d.crossings[0].x, 50, 1e-9);
    EXPECT_NEAR(d.crossings[0].y, 50, 1e-9);
    EXPECT_EQ(d.crossings[0].over_segment, ab_over ? 0 : 2);
    EXPECT_EQ(jones_polynomial(gauss_code(d)), kOne);
  }
}

TEST(KnotsInvariant, StandardTrefoilCurvesHaveWritheThreeOfTheirHand) {
  for (int family : {0, 1})
    for (int hand : {1, -1}) {
      CurveSpec s = standard_curve_spec(CurveKind::Trefoil, hand);
      s.family = family;
      s.shape = 2.0;
      std::vector<Vec3> curve;
      build_curve(s, 720, curve);
      Reject r;
      Diagram d = project_standard(curve, 2.0, &r);
      EXPECT_EQ(r, Reject::None) << reject_name(r);
      ASSERT_EQ(d.crossings.size(), 3u) << "family " << family;
      EXPECT_EQ(diagram_writhe(d), 3 * hand) << "family " << family;
      EXPECT_EQ(identify_knot(jones_polynomial(gauss_code(d))), hand > 0 ? KnotClass::PlusTrefoil : KnotClass::MinusTrefoil);
      EXPECT_EQ(check_invariant(d, hand > 0 ? KnotClass::PlusTrefoil : KnotClass::MinusTrefoil), Reject::None);
      EXPECT_EQ(check_invariant(d, KnotClass::Unknot), Reject::WrongInvariant);  // the redraw path
    }
}

TEST(KnotsInvariant, SwitchedTrefoilCurveIsAnUnknotWithThreeCrossings) {
  for (int family : {0, 1}) {
    CurveSpec s = standard_curve_spec(CurveKind::SwitchedTrefoil, 1);
    s.family = family;
    s.shape = 2.0;
    s.lift_phase = 0.4;
    s.lift_amp = 1.0;
    std::vector<Vec3> curve;
    build_curve(s, 720, curve);
    Reject r;
    Diagram d = project_standard(curve, 2.0, &r);
    ASSERT_EQ(d.crossings.size(), 3u);
    EXPECT_EQ(identify_knot(jones_polynomial(gauss_code(d))), KnotClass::Unknot);
    // Exactly one crossing differs from the alternating pattern of one of the trefoils: the
    // diagram is not alternating.
    GaussCode g = gauss_code(d);
    bool alternating = true;
    for (size_t k = 0; k < g.passages.size(); ++k)
      alternating = alternating && g.passages[k].over != g.passages[(k + 1) % g.passages.size()].over;
    EXPECT_FALSE(alternating);
  }
}

TEST(KnotsInvariant, FigureEightIsNoneOfTheClasses) {
  std::vector<Vec3> curve;
  build_figure_eight(720, curve);
  Reject r;
  Diagram d = project_standard(curve, 1.0, &r);
  LaurentPolynomial v = jones_polynomial(gauss_code(d));
  EXPECT_EQ(v, kFigureEight) << v.str();
  EXPECT_FALSE(identify_knot(v).has_value());
}

// ---- random samples -------------------------------------------------------------------------

// For every class, 2,000 samples drawn exactly as the renderer draws them (attempt after
// attempt until one is legible), without rasterising. The invariant of a legible diagram must
// name the class it was drawn for except for rare curls that swing through a neighbouring
// strand (which the renderer redraws); every sample the renderer would keep has the right
// invariant; and every sample finds a legible diagram within a few attempts.
TEST(KnotsInvariant, RandomSamplesHaveTheInvariantOfTheirClass) {
  constexpr int kSamples = 2000;
  constexpr uint64_t kSeed = 20240917;
  RenderWorkspace ws;
  for (int label = 0; label < kNumClasses; ++label) {
    const KnotClass cls = class_from_label(label);
    int legible = 0, wrong = 0, max_attempts = 0;
    std::array<int, kNumCurveKinds> kinds{};
    std::array<int, 2 * kMaxCrossings + 1> writhes{};
    for (uint64_t index = 0; index < kSamples; ++index) {
      for (int attempt = 0;; ++attempt) {
        ASSERT_LT(attempt, 50) << "sample " << index << " of " << class_name(cls);
        SampleRandom rng(kSeed, sample_stream(index, label, attempt));
        Geometry g = draw_geometry(cls, 128, rng, ws);
        if (g.reject != Reject::None) continue;
        ++legible;
        auto found = identify_knot(jones_polynomial(gauss_code(ws.diagram)));
        if (!found || *found != cls) {
          ++wrong;
          EXPECT_NE(g.kind, CurveKind::Circle) << "a deformed circle changed knot type at sample " << index;
          EXPECT_NE(g.kind, CurveKind::Trefoil) << "a plain trefoil changed knot type at sample " << index;
          EXPECT_NE(g.kind, CurveKind::SwitchedTrefoil) << "a switched trefoil changed knot type at sample " << index;
          continue;
        }
        max_attempts = std::max(max_attempts, attempt + 1);
        kinds[static_cast<size_t>(g.kind)]++;
        writhes[static_cast<size_t>(diagram_writhe(ws.diagram) + kMaxCrossings)]++;
        break;
      }
    }
    SCOPED_TRACE(std::string(class_name(cls)));
    EXPECT_LE(wrong, legible / 200) << wrong << " of " << legible << " legible diagrams had another knot's invariant";
    EXPECT_LE(max_attempts, 20);
    if (cls == KnotClass::Unknot) {
      // Every unknot kind is present in force, and curls give writhes of both signs.
      EXPECT_GT(kinds[static_cast<size_t>(CurveKind::Circle)], kSamples / 6);
      EXPECT_GT(kinds[static_cast<size_t>(CurveKind::CurledCircle)], kSamples / 6);
      EXPECT_GT(kinds[static_cast<size_t>(CurveKind::SwitchedTrefoil)], kSamples / 4);
      EXPECT_GT(writhes[kMaxCrossings + 1], kSamples / 20);
      EXPECT_GT(writhes[kMaxCrossings - 1], kSamples / 20);
    } else {
      EXPECT_GT(kinds[static_cast<size_t>(CurveKind::Trefoil)], kSamples / 2);
      EXPECT_GT(kinds[static_cast<size_t>(CurveKind::CurledTrefoil)], kSamples / 10);
      int sign = cls == KnotClass::PlusTrefoil ? 1 : -1;
      EXPECT_GT(writhes[static_cast<size_t>(kMaxCrossings + 3 * sign)], kSamples / 2);
      EXPECT_EQ(writhes[static_cast<size_t>(kMaxCrossings - 3 * sign)], 0) << "a trefoil drawn with the other hand's writhe";
    }
  }
}

}  // namespace
}  // namespace knotnet::knots
