// Model specs as text, so that experiments need no recompiling. One layer per line:
//   input 128 128 3        (first line: the per-sample input shape, H W C or F)
//   conv 64 3 valid        (filters, kernel size, valid|same)
//   batchnorm | relu | maxpool 2 | avgpool 2 | flatten | dense 128 | dropout 0.5
//   softmax                (last line: softmax fused with categorical cross-entropy)
// '#' starts a comment; blank lines are ignored. Named specs ship with the engine ("seed" is
// the original question's Keras model).
#pragma once

#include <string>
#include <vector>

#include "engine/layer.h"
#include "engine/tensor.h"

namespace knotnet {

struct ModelSpec {
  std::string origin;              // file name or "named spec 'seed'", used in messages
  std::string text;                // the spec as written (saved in checkpoints and run.json)
  Shape input;                     // per-sample input shape from the input line
  int input_line = 0;
  std::vector<LayerSpec> layers;   // everything after the input line, softmax included
};

// Parses spec text. Throws an Error naming origin and line for anything malformed.
ModelSpec parse_spec(const std::string& text, const std::string& origin = "spec");
// A named spec ("seed", "small", "tiny") or else a spec file's path.
ModelSpec load_spec(const std::string& name_or_path);
std::vector<std::string> named_specs();
// The text of a named spec; throws for an unknown name.
std::string named_spec_text(const std::string& name);

}  // namespace knotnet
