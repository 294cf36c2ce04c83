// The three classes of the knot-diagram dataset and the kinds of curve behind each sample.
// Class numbers are the labels stored in the files, so their order is part of the file format.
#pragma once

#include <cstdint>
#include <string_view>

namespace knotnet::knots {

// Label 0, 1, 2. "Plus" is the right-handed trefoil (standard diagram: three positive
// crossings, writhe +3); "minus" is its mirror image (writhe -3).
enum class KnotClass : uint8_t { Unknot = 0, PlusTrefoil = 1, MinusTrefoil = 2 };
inline constexpr int kNumClasses = 3;

// "unknot", "plus_trefoil", "minus_trefoil": the names stored in the files' attributes.
std::string_view class_name(KnotClass c);
// The class with label `label`; throws for a label outside 0..2.
KnotClass class_from_label(int label);

// How a sample's curve was built. Unknots are deformed circles, circles with one or two curls
// (Reidemeister I twists), or a trefoil's projection lifted so that its diagram has one
// crossing switched; trefoils are plain or carry one curl.
enum class CurveKind : uint8_t { Circle, CurledCircle, SwitchedTrefoil, Trefoil, CurledTrefoil };
inline constexpr int kNumCurveKinds = 5;

// "circle", "curled_circle", "switched_trefoil", "trefoil", "curled_trefoil".
std::string_view curve_kind_name(CurveKind k);

}  // namespace knotnet::knots
