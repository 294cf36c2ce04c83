// A seeded, stratified train / validation / test split of a file's images, by index. Each class
// is divided exactly in the requested proportions (every split within one image of its share of
// every class), no image is in two splits, and the same seed and file give the same split.
// The non-obvious choice: whole blocks of B consecutive rows (the file's chunks) are dealt to
// the splits first, and only the images that do not fit their block's split are dealt one by
// one, so that reading the validation split reads about 15% of the file, not all of it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace knotnet {

struct SplitFractions {
  double train = 0.70, validation = 0.15, test = 0.15;
};
// "70,15,15", "0.8,0.1,0.1" or "80,20" (no test split); normalised to sum 1. Throws naming the
// text when a part is negative, the train part is zero, or it is not two or three numbers.
SplitFractions parse_split_fractions(const std::string& text);

enum class SplitPart : int { train = 0, validation = 1, test = 2 };
const char* split_part_name(SplitPart p);
// "train", "validation"/"val", "test" -> the part; throws otherwise.
SplitPart parse_split_part(const std::string& text);

struct Split {
  std::array<std::vector<int64_t>, 3> parts;  // row indices of each part, ascending
  const std::vector<int64_t>& operator[](SplitPart p) const { return parts[static_cast<size_t>(p)]; }
  const std::vector<int64_t>& train() const { return parts[0]; }
  const std::vector<int64_t>& validation() const { return parts[1]; }
  const std::vector<int64_t>& test() const { return parts[2]; }
};

// labels: (N) class indices in [0, classes). block_rows: rows per chunk of the image dataset
// (1 for a split that ignores the file's layout).
Split stratified_split(const std::vector<int32_t>& labels, int classes, int64_t block_rows,
                       const SplitFractions& fractions, uint64_t seed);

// Images of each class among `rows`, (classes).
std::vector<int64_t> class_counts(const std::vector<int32_t>& labels, const std::vector<int64_t>& rows, int classes);

}  // namespace knotnet
