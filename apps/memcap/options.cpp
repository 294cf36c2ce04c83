#include "apps/memcap/options.h"

#include <algorithm>

#include "engine/alloc_policy.h"
#include "engine/error.h"

namespace knotnet::memcap {

std::vector<std::string> split_list(const std::string& text, const std::string& flag) {
  std::vector<std::string> items;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    KN_CHECK(!item.empty(), flag, " '", text, "': expected a comma-separated list with no empty items");
    items.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

std::vector<int64_t> parse_batches(const std::string& text) {
  std::vector<int64_t> batches;
  for (const std::string& item : split_list(text, "--batches")) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    KN_CHECK(used == item.size() && v > 0, "--batches '", text, "': '", item, "' is not a positive batch size");
    batches.push_back(v);
  }
  return batches;
}

std::vector<std::string> parse_policies(const std::string& text, const std::string& device) {
  std::vector<std::string> policies;
  for (const std::string& item : split_list(text, "--policies")) {
    const AllocOptions a = parse_alloc_policy(item);  // throws naming the value
    KN_CHECK(device != "cpu" || a.policy == AllocPolicy::planned || a.policy == AllocPolicy::growth, "--policies: '",
             item, "' needs a GPU; with --device cpu only planned and growth run");
    KN_CHECK(std::find(policies.begin(), policies.end(), item) == policies.end(), "--policies: '", item,
             "' is given twice");
    policies.push_back(item);
  }
  return policies;
}

std::string policy_dir_name(const std::string& policy) {
  std::string name = policy;
  std::replace(name.begin(), name.end(), '=', '-');
  return name;
}

}  // namespace knotnet::memcap
