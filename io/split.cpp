// Block-first stratified split (see split.h). Blocks are visited in a seeded random order; each
// goes whole to a split that can still take all of its images of every class, chosen with
// probability proportional to that split's remaining room (so blocks land in the splits in the
// requested proportions); a block no split can take whole goes to the split that takes most of
// it, and its leftover images are dealt afterwards, one by one, to splits still short of their
// class, again in proportion to the room left. The per-class targets are fixed up front by
// rounding, so the counts are exact whatever the order.
#include "io/split.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/error.h"
#include "io/shuffle_random.h"

namespace knotnet {

SplitFractions parse_split_fractions(const std::string& text) {
  std::vector<double> v;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    size_t used = 0;
    double x = -1;
    try {
      x = std::stod(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    while (used < part.size() && part[used] == ' ') ++used;
    KN_CHECK(used == part.size() && part.size() > 0 && x >= 0 && std::isfinite(x), "split '", text,
             "': expected two or three non-negative numbers train,validation[,test], e.g. 70,15,15");
    v.push_back(x);
  }
  KN_CHECK(v.size() == 2 || v.size() == 3, "split '", text,
           "': expected two or three numbers train,validation[,test], e.g. 70,15,15");
  if (v.size() == 2) v.push_back(0);
  double sum = v[0] + v[1] + v[2];
  KN_CHECK(v[0] > 0 && sum > 0, "split '", text, "': the train part must be positive");
  return SplitFractions{v[0] / sum, v[1] / sum, v[2] / sum};
}

const char* split_part_name(SplitPart p) {
  switch (p) {
    case SplitPart::train: return "train";
    case SplitPart::validation: return "validation";
    case SplitPart::test: return "test";
  }
  return "?";
}

SplitPart parse_split_part(const std::string& text) {
  if (text == "train") return SplitPart::train;
  if (text == "validation" || text == "val") return SplitPart::validation;
  if (text == "test") return SplitPart::test;
  KN_THROW("split part '", text, "': expected train, validation or test");
}

std::vector<int64_t> class_counts(const std::vector<int32_t>& labels, const std::vector<int64_t>& rows, int classes) {
  std::vector<int64_t> counts(static_cast<size_t>(classes), 0);
  for (int64_t r : rows) ++counts[static_cast<size_t>(labels[static_cast<size_t>(r)])];
  return counts;
}

Split stratified_split(const std::vector<int32_t>& labels, int classes, int64_t block_rows,
                       const SplitFractions& fractions, uint64_t seed) {
  KN_CHECK(classes > 0, "a split needs at least one class");
  KN_CHECK(block_rows > 0, "block_rows must be positive");
  const double sum = fractions.train + fractions.validation + fractions.test;
  KN_CHECK(fractions.train > 0 && fractions.validation >= 0 && fractions.test >= 0 && sum > 0,
           "split fractions must be non-negative with a positive train part");
  const double f[3] = {fractions.train / sum, fractions.validation / sum, fractions.test / sum};
  const auto K = static_cast<size_t>(classes);
  const int64_t n = static_cast<int64_t>(labels.size());

  std::vector<int64_t> per_class(K, 0);
  for (int32_t l : labels) {
    KN_CHECK(l >= 0 && l < classes, "label ", l, " out of range 0..", classes - 1);
    ++per_class[static_cast<size_t>(l)];
  }
  // room[s][c]: images of class c split s still needs.
  std::array<std::vector<int64_t>, 3> room;
  for (auto& r : room) r.assign(K, 0);
  for (size_t c = 0; c < K; ++c) {
    int64_t nc = per_class[c];
    int64_t val = std::llround(static_cast<double>(nc) * f[1]);
    int64_t test = std::llround(static_cast<double>(nc) * f[2]);
    if (val + test > nc) test = nc - val;
    room[1][c] = val;
    room[2][c] = test;
    room[0][c] = nc - val - test;
  }

  Split out;
  const int64_t blocks = (n + block_rows - 1) / block_rows;
  std::vector<int64_t> order(static_cast<size_t>(blocks));
  for (int64_t b = 0; b < blocks; ++b) order[static_cast<size_t>(b)] = b;
  RandomStream rng(seed, random_stream_id(RandomPurpose::split));
  rng.shuffle(order);

  std::vector<int64_t> leftover;
  std::vector<std::vector<int64_t>> by_class(K);
  for (int64_t b : order) {
    for (auto& v : by_class) v.clear();
    const int64_t first = b * block_rows, last = std::min(n, first + block_rows);
    for (int64_t r = first; r < last; ++r) by_class[static_cast<size_t>(labels[static_cast<size_t>(r)])].push_back(r);
    int64_t take[3] = {0, 0, 0}, total_room[3] = {0, 0, 0};
    for (int s = 0; s < 3; ++s)
      for (size_t c = 0; c < K; ++c) {
        take[s] += std::min<int64_t>(static_cast<int64_t>(by_class[c].size()), room[s][c]);
        total_room[s] += room[s][c];
      }
    const int64_t size = last - first;
    int chosen = -1;
    double whole_weight = 0;
    for (int s = 0; s < 3; ++s)
      if (take[s] == size) whole_weight += static_cast<double>(total_room[s]);
    if (whole_weight > 0) {
      double u = rng.uniform() * whole_weight;
      for (int s = 0; s < 3 && chosen < 0; ++s) {
        if (take[s] != size) continue;
        u -= static_cast<double>(total_room[s]);
        if (u < 0) chosen = s;
      }
      if (chosen < 0)
        for (int s = 2; s >= 0 && chosen < 0; --s)
          if (take[s] == size && total_room[s] > 0) chosen = s;
    }
    if (chosen < 0) {
      chosen = 0;
      for (int s = 1; s < 3; ++s)
        if (take[s] > take[chosen] || (take[s] == take[chosen] && total_room[s] > total_room[chosen])) chosen = s;
    }
    for (size_t c = 0; c < K; ++c) {
      auto& rows = by_class[c];
      int64_t k = std::min<int64_t>(static_cast<int64_t>(rows.size()), room[chosen][c]);
      if (k < static_cast<int64_t>(rows.size())) rng.shuffle(rows);
      auto& part = out.parts[static_cast<size_t>(chosen)];
      part.insert(part.end(), rows.begin(), rows.begin() + k);
      leftover.insert(leftover.end(), rows.begin() + k, rows.end());
      room[chosen][c] -= k;
    }
  }
  rng.shuffle(leftover);
  for (int64_t r : leftover) {
    const auto c = static_cast<size_t>(labels[static_cast<size_t>(r)]);
    const int64_t total = room[0][c] + room[1][c] + room[2][c];
    KN_CHECK(total > 0, "internal error: no split has room for an image of class ", c);
    int64_t u = static_cast<int64_t>(rng.below(static_cast<uint64_t>(total)));
    int s = 0;
    while (u >= room[s][c]) u -= room[s++][c];
    out.parts[static_cast<size_t>(s)].push_back(r);
    --room[s][c];
  }
  for (auto& p : out.parts) std::sort(p.begin(), p.end());
  return out;
}

}  // namespace knotnet
