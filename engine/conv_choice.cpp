#include "engine/conv_choice.h"

#include <cstdio>

#include "engine/error.h"

namespace knotnet {

const char* conv_search_name(ConvSearch s) { return s == ConvSearch::measured ? "measured" : "heuristic"; }

ConvSearch parse_conv_search(const std::string& text) {
  if (text == "measured") return ConvSearch::measured;
  if (text == "heuristic") return ConvSearch::heuristic;
  KN_THROW("unknown convolution algorithm search '", text, "': expected measured or heuristic");
}

int fastest_candidate(const std::vector<ConvCandidate>& candidates, bool prefer_deterministic) {
  for (bool need_deterministic : {prefer_deterministic, false}) {
    int best = -1;
    for (size_t i = 0; i < candidates.size(); ++i) {
      const ConvCandidate& c = candidates[i];
      if (c.ms < 0 || (need_deterministic && !c.deterministic)) continue;
      if (best < 0 || c.ms < candidates[static_cast<size_t>(best)].ms) best = static_cast<int>(i);
    }
    if (best >= 0) return best;
  }
  return -1;
}

namespace {
std::string timed_label(const ConvCandidate& c) {
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.3f ms", static_cast<double>(c.ms));
  return c.label + (c.deterministic ? "" : " non-deterministic") + " " + (c.ms < 0 ? "not timed" : ms);
}
}  // namespace

std::string describe_choice(const std::vector<ConvCandidate>& candidates, int chosen) {
  if (chosen < 0 || static_cast<size_t>(chosen) >= candidates.size()) return "nothing could be timed";
  std::string out = timed_label(candidates[static_cast<size_t>(chosen)]);
  std::string rest;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (static_cast<int>(i) == chosen) continue;
    rest += (rest.empty() ? "" : ", ") + timed_label(candidates[i]);
  }
  return rest.empty() ? out : out + " (over " + rest + ")";
}

}  // namespace knotnet
