// Choosing a convolution direction's implementation from timings (engine/conv_choice.h), on
// made-up timings: the fastest wins, ties go to the earlier candidate, untimed ones never win,
// and a deterministic candidate is preferred when asked for, while there is one.
#include <gtest/gtest.h>

#include "engine/conv_choice.h"
#include "engine/error.h"

namespace knotnet {
namespace {

ConvCandidate cand(const char* label, float ms, bool deterministic = true, bool cudnn = true) {
  ConvCandidate c;
  c.cudnn = cudnn;
  c.ms = ms;
  c.deterministic = deterministic;
  c.label = label;
  return c;
}

TEST(ConvChoice, TheFastestTimedCandidateWins) {
  const std::vector<ConvCandidate> c{cand("a", 3.0f), cand("b", 1.5f), cand("c", 2.0f), cand("d", -1.0f)};
  EXPECT_EQ(fastest_candidate(c, false), 1);
  EXPECT_EQ(fastest_candidate(c, true), 1);
}

TEST(ConvChoice, TiesGoToTheEarlierCandidate) {
  EXPECT_EQ(fastest_candidate({cand("a", 2.0f), cand("b", 1.0f), cand("c", 1.0f)}, false), 1);
}

TEST(ConvChoice, UntimedCandidatesNeverWin) {
  EXPECT_EQ(fastest_candidate({cand("a", -1.0f), cand("b", 5.0f)}, false), 1);
  EXPECT_EQ(fastest_candidate({cand("a", -1.0f)}, false), -1);
  EXPECT_EQ(fastest_candidate({}, true), -1);
}

TEST(ConvChoice, DeterministicPreferredWhileThereIsOne) {
  const std::vector<ConvCandidate> c{cand("fast", 1.0f, false), cand("slow", 4.0f, true)};
  EXPECT_EQ(fastest_candidate(c, true), 1);
  EXPECT_EQ(fastest_candidate(c, false), 0);
  // No deterministic candidate was timed: the fastest of the rest.
  EXPECT_EQ(fastest_candidate({cand("x", 2.0f, false), cand("y", 1.0f, false), cand("z", -1.0f, true)}, true), 1);
}

TEST(ConvChoice, DescribeNamesTheWinnerThenTheRest) {
  const std::vector<ConvCandidate> c{cand("cuDNN algo 1 (fma)", 3.25f, false), cand("implicit GEMM", 1.5f, true, false)};
  EXPECT_EQ(describe_choice(c, 1), "implicit GEMM 1.500 ms (over cuDNN algo 1 (fma) non-deterministic 3.250 ms)");
  EXPECT_EQ(describe_choice({cand("implicit GEMM", 0.25f)}, 0), "implicit GEMM 0.250 ms");
  EXPECT_EQ(describe_choice(c, -1), "nothing could be timed");
}

TEST(ConvChoice, SearchNamesParseBothWaysAndOthersAreRefused) {
  for (ConvSearch s : {ConvSearch::measured, ConvSearch::heuristic}) EXPECT_EQ(parse_conv_search(conv_search_name(s)), s);
  try {
    parse_conv_search("fastest");
    FAIL() << "accepted 'fastest'";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown convolution algorithm search 'fastest': expected measured or heuristic");
  }
}

}  // namespace
}  // namespace knotnet
