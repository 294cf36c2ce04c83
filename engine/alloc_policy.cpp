#include "engine/alloc_policy.h"

#include <cmath>

#include "engine/error.h"

namespace knotnet {

std::string AllocOptions::str() const {
  switch (policy) {
    case AllocPolicy::planned: return "planned";
    case AllocPolicy::preallocate: return "preallocate";
    case AllocPolicy::growth: return "growth";
    case AllocPolicy::fraction: return detail::concat("fraction=", fraction);
  }
  return "?";
}

AllocOptions parse_alloc_policy(const std::string& text) {
  AllocOptions o;
  if (text == "planned") return o;
  if (text == "preallocate") {
    o.policy = AllocPolicy::preallocate;
    return o;
  }
  if (text == "growth") {
    o.policy = AllocPolicy::growth;
    return o;
  }
  const std::string prefix = "fraction=";
  if (text.rfind(prefix, 0) == 0) {
    const std::string number = text.substr(prefix.size());
    size_t used = 0;
    double f = 0;
    try {
      f = std::stod(number, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    KN_CHECK(used > 0 && used == number.size() && std::isfinite(f) && f > 0 && f <= 1, "--alloc '", text,
             "': the fraction must be a number in (0, 1], such as fraction=0.3");
    o.policy = AllocPolicy::fraction;
    o.fraction = f;
    return o;
  }
  KN_THROW("--alloc '", text, "': expected planned, preallocate, growth or fraction=F (F in (0, 1])");
}

size_t tensorflow_system_reserve(size_t free, int cc_major) {
  constexpr size_t MiB = size_t(1) << 20;
  if (free < (size_t(1) << 31)) return 225 * MiB;
  if (cc_major <= 6) return 500 * MiB;
  if (cc_major <= 7) return 1050 * MiB;
  if (cc_major <= 8) return 1536 * MiB;
  return 1800 * MiB;
}

}  // namespace knotnet
