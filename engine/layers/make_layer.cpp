// make_layer: one spec line -> one Layer, with the argument and shape checks a user needs to
// read. Every message starts "line N: " (the model adds the spec's origin in front).
#include <charconv>
#include <cmath>
#include <system_error>

#include "engine/layer.h"
#include "engine/layers/avgpool.h"
#include "engine/layers/batchnorm.h"
#include "engine/layers/conv.h"
#include "engine/layers/dense.h"
#include "engine/layers/dropout.h"
#include "engine/layers/flatten.h"
#include "engine/layers/maxpool.h"
#include "engine/layers/relu.h"

namespace knotnet {

namespace {

constexpr const char* kKnown = "conv, batchnorm, relu, maxpool, avgpool, flatten, dense, dropout, and softmax as the last line";

#define KN_SPEC_CHECK(cond, spec, ...) KN_CHECK(cond, "line ", (spec).line, ": ", __VA_ARGS__)

// A whole-string positive integer, or false.
bool parse_positive(const std::string& s, int64_t& out) {
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && p == end && out > 0;
}

// A whole-string finite real number, or false.
bool parse_real(const std::string& s, double& out) {
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && p == end && std::isfinite(out);
}

int64_t positive_arg(const LayerSpec& spec, size_t i, const char* what) {
  int64_t v = 0;
  KN_SPEC_CHECK(parse_positive(spec.args[i], v), spec, spec.kind, " ", what, " must be a positive integer, got '",
                spec.args[i], "' in '", spec.text(), "'");
  return v;
}

void no_args(const LayerSpec& spec) {
  KN_SPEC_CHECK(spec.args.empty(), spec, spec.kind, " takes no arguments, got '", spec.text(), "'");
}

std::unique_ptr<Layer> make_conv(const LayerSpec& spec, const Shape& in, const std::string& name) {
  // An optional 4th word picks the GPU convolution (engine/layers/conv.h); padding comes first.
  const bool algo_ok = spec.args.size() < 4 || spec.args[3] == "cudnn" || spec.args[3] == "implicit";
  KN_SPEC_CHECK(spec.args.size() >= 2 && spec.args.size() <= 4 && algo_ok, spec,
                "conv takes FILTERS KERNEL [valid|same], got '", spec.text(),
                "' (an optional 4th word after the padding picks the GPU convolution: cudnn or implicit)");
  const int64_t filters = positive_arg(spec, 0, "FILTERS");
  const int64_t kernel = positive_arg(spec, 1, "KERNEL");
  bool same = false;
  if (spec.args.size() >= 3) {
    KN_SPEC_CHECK(spec.args[2] == "valid" || spec.args[2] == "same", spec,
                  "conv padding must be 'valid' or 'same', got '", spec.args[2], "' in '", spec.text(), "'");
    same = spec.args[2] == "same";
  }
  KN_SPEC_CHECK(in.rank() == 3, spec, spec.text(), " needs a spatial (H, W, C) input, got ", in.str(),
                " (conv cannot follow flatten or dense)");
  KN_SPEC_CHECK(same || (kernel <= in[0] && kernel <= in[1]), spec, "conv kernel ", kernel,
                " is larger than its input ", in.str(), " with valid padding; use a smaller kernel or 'same'");
  const bool implicit = spec.args.size() == 4 && spec.args[3] == "implicit";
  return std::make_unique<ConvLayer>(name, in, filters, kernel, same, implicit);
}

// maxpool 2 and avgpool 2: the same window, the same checks.
std::unique_ptr<Layer> make_pool(const LayerSpec& spec, const Shape& in, const std::string& name) {
  const std::string& k = spec.kind;
  KN_SPEC_CHECK(spec.args.size() == 1, spec, k, " takes the window size, and only 2 is supported ('", k,
                " 2'), got '", spec.text(), "'");
  const int64_t size = positive_arg(spec, 0, "window size");
  KN_SPEC_CHECK(size == 2, spec, k, " supports only a 2x2 window with stride 2 ('", k, " 2'), got '", spec.text(),
                "'");
  KN_SPEC_CHECK(in.rank() == 3, spec, k, " 2 needs a spatial input, got ", in.str());
  KN_SPEC_CHECK(in[0] >= 2 && in[1] >= 2, spec, k, " 2 needs an input of at least 2x2, got ", in.str());
  if (k == "avgpool") return std::make_unique<AvgPoolLayer>(name, in);
  return std::make_unique<MaxPoolLayer>(name, in);
}

std::unique_ptr<Layer> make_dense(const LayerSpec& spec, const Shape& in, const std::string& name) {
  KN_SPEC_CHECK(spec.args.size() == 1, spec, "dense takes UNITS, got '", spec.text(), "'");
  const int64_t units = positive_arg(spec, 0, "UNITS");
  KN_SPEC_CHECK(in.rank() == 1, spec, "dense needs flat features, got ", in.str(),
                " per sample; add 'flatten' before it");
  return std::make_unique<DenseLayer>(name, in, units);
}

std::unique_ptr<Layer> make_dropout(const LayerSpec& spec, const Shape& in, const std::string& name) {
  KN_SPEC_CHECK(spec.args.size() == 1, spec, "dropout takes RATE (in [0, 1)), got '", spec.text(), "'");
  double rate = 0;
  KN_SPEC_CHECK(parse_real(spec.args[0], rate) && rate >= 0 && rate < 1, spec,
                "dropout rate must be a number in [0, 1), got '", spec.args[0], "'");
  return std::make_unique<DropoutLayer>(name, in, rate);
}

}  // namespace

std::unique_ptr<Layer> make_layer(const LayerSpec& spec, const Shape& input, const std::string& name) {
  const std::string& k = spec.kind;
  if (k == "conv") return make_conv(spec, input, name);
  if (k == "maxpool" || k == "avgpool") return make_pool(spec, input, name);
  if (k == "dense") return make_dense(spec, input, name);
  if (k == "dropout") return make_dropout(spec, input, name);
  if (k == "batchnorm") {
    no_args(spec);
    KN_SPEC_CHECK(input.rank() == 3 || input.rank() == 1, spec, "batchnorm needs (H, W, C) or (F) input, got ",
                  input.str());
    return std::make_unique<BatchNormLayer>(name, input);
  }
  if (k == "relu") {
    no_args(spec);
    return std::make_unique<ReluLayer>(name, input);
  }
  if (k == "flatten") {
    no_args(spec);
    return std::make_unique<FlattenLayer>(name, input);
  }
  KN_SPEC_CHECK(k != "softmax", spec,
                "softmax is not a layer on its own: it is fused with the loss and must be the "
                "model's last line");
  KN_SPEC_CHECK(k != "input", spec, "'input' must be the spec's first line, and appear only once");
  KN_THROW("line ", spec.line, ": unknown layer '", k, "'; known layers: ", kKnown);
}

}  // namespace knotnet
