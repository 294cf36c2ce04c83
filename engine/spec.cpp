#include "engine/spec.h"

#include <fstream>
#include <map>
#include <sstream>

namespace knotnet {

namespace {

const std::map<std::string, std::string>& named() {
  // seed: the original question's Keras model, 3,379,811 trainable parameters at 128x128x3.
  // small: the same shape of network, narrower, for 64x64 images and CPU demos.
  // tiny: a few thousand parameters, for tests.
  static const std::map<std::string, std::string> specs = {
      {"seed",
       "input 128 128 3\nconv 64 3 valid\nbatchnorm\nrelu\nmaxpool 2\nconv 96 3 same\nrelu\nmaxpool 2\n"
       "conv 128 3 valid\nrelu\nmaxpool 2\nflatten\ndense 128\nrelu\ndropout 0.5\ndense 3\nsoftmax\n"},
      {"small",
       "input 64 64 3\nconv 16 3 valid\nbatchnorm\nrelu\nmaxpool 2\nconv 32 3 same\nrelu\nmaxpool 2\n"
       "conv 48 3 valid\nrelu\nmaxpool 2\nflatten\ndense 64\nrelu\ndropout 0.3\ndense 3\nsoftmax\n"},
      {"tiny",
       "input 16 16 3\nconv 8 3 same\nbatchnorm\nrelu\nmaxpool 2\nconv 8 3 valid\nrelu\nmaxpool 2\n"
       "flatten\ndense 16\nrelu\ndropout 0.2\ndense 3\nsoftmax\n"},
  };
  return specs;
}

int64_t parse_dim(const std::string& s, const std::string& origin, int line) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  KN_CHECK(used == s.size() && v > 0, origin, " line ", line, ": input dimension '", s,
           "' must be a positive integer");
  return v;
}

}  // namespace

std::vector<std::string> named_specs() {
  std::vector<std::string> names;
  for (const auto& [k, v] : named()) names.push_back(k);
  return names;
}

std::string named_spec_text(const std::string& name) {
  auto it = named().find(name);
  KN_CHECK(it != named().end(), "no named spec '", name, "'");
  return it->second;
}

ModelSpec parse_spec(const std::string& text, const std::string& origin) {
  ModelSpec spec;
  spec.origin = origin;
  spec.text = text;
  std::istringstream in(text);
  std::string raw;
  int line = 0;
  bool have_input = false;
  while (std::getline(in, raw)) {
    ++line;
    if (auto hash = raw.find('#'); hash != std::string::npos) raw.resize(hash);
    std::istringstream words(raw);
    LayerSpec ls;
    ls.line = line;
    if (!(words >> ls.kind)) continue;
    for (std::string w; words >> w;) ls.args.push_back(w);
    if (!have_input) {
      KN_CHECK(ls.kind == "input", origin, " line ", line, ": the first line must be 'input H W C' (or 'input F'), got '",
               ls.text(), "'");
      KN_CHECK(ls.args.size() == 3 || ls.args.size() == 1, origin, " line ", line,
               ": 'input' takes H W C or F, got ", ls.args.size(), " values");
      if (ls.args.size() == 3)
        spec.input = Shape{parse_dim(ls.args[0], origin, line), parse_dim(ls.args[1], origin, line),
                           parse_dim(ls.args[2], origin, line)};
      else
        spec.input = Shape{parse_dim(ls.args[0], origin, line)};
      spec.input_line = line;
      have_input = true;
      continue;
    }
    KN_CHECK(ls.kind != "input", origin, " line ", line, ": 'input' may appear only once, as the first line");
    KN_CHECK(spec.layers.empty() || spec.layers.back().kind != "softmax", origin, " line ", line, ": '", ls.text(),
             "' follows softmax, which must be the last layer");
    spec.layers.push_back(ls);
  }
  KN_CHECK(have_input, origin, ": empty spec (expected an 'input' line and layers)");
  KN_CHECK(!spec.layers.empty() && spec.layers.back().kind == "softmax", origin,
           ": the last layer must be 'softmax' (fused with the cross-entropy loss)");
  return spec;
}

ModelSpec load_spec(const std::string& name_or_path) {
  if (auto it = named().find(name_or_path); it != named().end())
    return parse_spec(it->second, "named spec '" + name_or_path + "'");
  std::ifstream f(name_or_path);
  if (!f) {
    std::string names;
    for (const auto& n : named_specs()) names += (names.empty() ? "" : ", ") + n;
    KN_THROW("model '", name_or_path, "' is neither a named spec (", names, ") nor a readable spec file");
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_spec(ss.str(), name_or_path);
}

}  // namespace knotnet
