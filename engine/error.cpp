#include "engine/error.h"

#include <cstring>

namespace knotnet {

std::string Error::located() const {
  const char* base = std::strrchr(file_, '/');
  return detail::concat(what(), " (", base ? base + 1 : file_, ":", line_, ")");
}

}  // namespace knotnet
