#include "tests/support/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace knotnet::test {

LayerSpec spec_line(const std::string& text, int line) {
  LayerSpec s;
  s.line = line;
  std::istringstream words(text);
  words >> s.kind;
  for (std::string w; words >> w;) s.args.push_back(w);
  return s;
}

std::string GradCheckResult::str() const {
  std::ostringstream os;
  os << what << ": " << checked << " checked, " << skipped << " skipped near kinks, max error " << max_error;
  if (worst >= 0)
    os << " at entry " << worst << " (analytic " << worst_analytic << ", numeric " << worst_numeric << ")";
  return os.str();
}

GradCheckResult check_gradient(const std::string& what, std::vector<double>& v, const std::vector<double>& analytic,
                               const std::function<double()>& loss, const GradCheckOptions& options,
                               const std::function<bool(int64_t)>& skip) {
  KN_CHECK(v.size() == analytic.size(), "gradient check of ", what, ": ", v.size(), " values but ", analytic.size(),
           " analytic gradients");
  GradCheckResult r;
  r.what = what;
  const double h = options.step;
  for (size_t i = 0; i < v.size(); ++i) {
    if (skip && skip(static_cast<int64_t>(i))) {
      ++r.skipped;
      continue;
    }
    const double saved = v[i];
    v[i] = saved + h;
    const double up = loss();
    v[i] = saved - h;
    const double down = loss();
    v[i] = saved;
    const double numeric = (up - down) / (2 * h);
    const double a = analytic[i];
    const double error = std::abs(a - numeric) / std::max({std::abs(a), std::abs(numeric), options.floor});
    ++r.checked;
    if (!(error <= r.max_error)) {  // NaN counts as the worst
      r.max_error = std::isnan(error) ? INFINITY : error;
      r.worst = static_cast<int64_t>(i);
      r.worst_analytic = a;
      r.worst_numeric = numeric;
    }
  }
  // KNOTNET_GRADCHECK_VERBOSE=1 prints every result, to see the margin under the bound.
  if (const char* env = std::getenv("KNOTNET_GRADCHECK_VERBOSE"); env && *env && *env != '0')
    std::printf("gradcheck %s\n", r.str().c_str());
  return r;
}

std::vector<GradCheckResult> check_layer_gradients(LayerHarness<double>& h, const StepContext& ctx,
                                                   const GradCheckOptions& options,
                                                   const std::function<bool(int64_t)>& skip_input) {
  // Analytic gradients with dy = r.
  h.forward(ctx);
  h.backward(ctx);
  const std::vector<double> r = h.dy;
  const std::vector<double> dx = h.dx;
  const std::vector<std::vector<double>> grads = h.grads;

  auto loss = [&] {
    h.forward(ctx);
    double sum = 0;
    for (size_t k = 0; k < r.size(); ++k) sum += r[k] * h.y[k];
    return sum;
  };
  std::vector<GradCheckResult> out;
  out.push_back(check_gradient("input", h.x, dx, loss, options, skip_input));
  auto infos = h.layer().param_infos();
  for (size_t i = 0; i < infos.size(); ++i)
    if (infos[i].trainable) out.push_back(check_gradient(infos[i].name, h.params[i], grads[i], loss, options));
  return out;
}

}  // namespace knotnet::test
