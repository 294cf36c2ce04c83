// Names of the classes and curve kinds (the class names are written into every dataset file).
#include "io/knots/knot_types.h"

#include "engine/error.h"

namespace knotnet::knots {

std::string_view class_name(KnotClass c) {
  switch (c) {
    case KnotClass::Unknot: return "unknot";
    case KnotClass::PlusTrefoil: return "plus_trefoil";
    case KnotClass::MinusTrefoil: return "minus_trefoil";
  }
  return "?";
}

KnotClass class_from_label(int label) {
  KN_CHECK(label >= 0 && label < kNumClasses, "knot class label must be 0, 1 or 2, got ", label);
  return static_cast<KnotClass>(label);
}

std::string_view curve_kind_name(CurveKind k) {
  switch (k) {
    case CurveKind::Circle: return "circle";
    case CurveKind::CurledCircle: return "curled_circle";
    case CurveKind::SwitchedTrefoil: return "switched_trefoil";
    case CurveKind::Trefoil: return "trefoil";
    case CurveKind::CurledTrefoil: return "curled_trefoil";
  }
  return "?";
}

}  // namespace knotnet::knots
