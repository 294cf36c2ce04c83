// A model's parameters by layer and name, for tests that write into the flat parameter, gradient
// or optimizer-state buffers.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "engine/model.h"

namespace knotnet::test {

// The parameter `name` ("kernel", "bias", ...) of `layer` ("conv_1"); throws when there is none,
// which fails the calling test with the names. A copy (its tensors are views): parameters()
// returns its list by value.
inline Model::Param param_named(const Model& m, const std::string& layer, const std::string& name) {
  for (const Model::Param& p : m.parameters())
    if (p.layer == layer && p.name == name) return p;
  throw std::invalid_argument("the model has no parameter " + layer + "/" + name);
}

// Flat index of that parameter's first element.
inline int64_t param_offset(const Model& m, const std::string& layer, const std::string& name) {
  return m.flat_offset(param_named(m, layer, name));
}

}  // namespace knotnet::test
