// Numbers for people: "1.50 MiB", "3,379,811".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace knotnet {

std::string format_bytes(size_t bytes);
std::string format_count(int64_t v);

}  // namespace knotnet
