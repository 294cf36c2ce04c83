// The golden test: the `seed` model at 32x32x3, batch 4, against PyTorch. The fixture
// tests/golden/seed32.h5 was made by tests/golden/make_golden.py (PyTorch on the CPU, float64,
// knotnet's layouts and dropout mask); this test needs only HDF5. It loads the fixture's weights
// into a knotnet model and compares, in inference mode, the loss and class probabilities; then,
// after one training forward/backward pass, the class probabilities, the logits (up to the
// per-row shift that softmax forgets: the model exposes probabilities, not logits), the loss,
// every gradient and the batch-norm moving statistics; then it takes one Adagrad step (lr 0.01,
// Keras 3's rule) and compares the parameters.
//
// Comparisons are normwise per tensor: max |knotnet - PyTorch| / scale, where scale is the
// tensor's largest |PyTorch value|, but never less than 1e-2 of the largest gradient in the
// fixture. The floor matters for conv_1's bias only: its gradient is zero in exact arithmetic
// (batch norm removes any per-channel shift), so PyTorch's values are rounding noise (~1e-15)
// and knotnet's are too (~3e-7 in float32: a sum of 14,400 terms that cancel); the test checks
// that they are small on the scale of the other gradients (the smallest of which is 0.17).
// Tolerances: 1e-4 in float32 (the bar; measured: 2e-5 or better) and 1e-10 in
// float64 (both sides compute the same sums in different orders; measured: 2e-15 or better).
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/model.h"
#include "engine/spec.h"
#include "io/h5_check.h"
#include "tests/support/test_support.h"

namespace knotnet {
namespace {

// Read-only access to the fixture through the HDF5 C API.
class Fixture {
 public:
  explicit Fixture(const std::string& path) {
    quiet_hdf5_errors();
    file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    KN_CHECK(file_ >= 0, "cannot open the golden fixture '", path, "' (made by tests/golden/make_golden.py)");
  }
  ~Fixture() {
    if (file_ >= 0) H5Fclose(file_);
  }
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  bool has(const std::string& name) const {
    // Each link along the path must exist before the next is asked about.
    for (size_t slash = name.find('/'); ; slash = name.find('/', slash + 1)) {
      std::string prefix = name.substr(0, slash);
      if (H5Lexists(file_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
      if (slash == std::string::npos) return true;
    }
  }

  // A dataset as doubles (HDF5 converts), with its dimensions.
  std::vector<double> doubles(const std::string& name, std::vector<int64_t>* dims = nullptr) const {
    return read<double>(name, H5T_NATIVE_DOUBLE, dims);
  }
  std::vector<int32_t> ints(const std::string& name) const { return read<int32_t>(name, H5T_NATIVE_INT32, nullptr); }

  double attr_double(const char* name) const { return attr<double>(name, H5T_NATIVE_DOUBLE); }
  uint64_t attr_u64(const char* name) const { return attr<uint64_t>(name, H5T_NATIVE_UINT64); }

 private:
  template <typename T>
  std::vector<T> read(const std::string& name, hid_t type, std::vector<int64_t>* dims) const {
    KN_CHECK(has(name), "the golden fixture has no dataset '", name, "'");
    hid_t ds = KN_H5_CHECK(H5Dopen2(file_, name.c_str(), H5P_DEFAULT));
    hid_t space = KN_H5_CHECK(H5Dget_space(ds));
    const int rank = KN_H5_CHECK(H5Sget_simple_extent_ndims(space));
    std::vector<hsize_t> d(static_cast<size_t>(rank));
    KN_H5_CHECK(H5Sget_simple_extent_dims(space, d.data(), nullptr));
    hssize_t n = KN_H5_CHECK(H5Sget_simple_extent_npoints(space));
    std::vector<T> out(static_cast<size_t>(n));
    herr_t status = H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data());
    H5Sclose(space);
    H5Dclose(ds);
    KN_CHECK(status >= 0, "cannot read dataset '", name, "' of the golden fixture");
    if (dims) dims->assign(d.begin(), d.end());
    return out;
  }
  template <typename T>
  T attr(const char* name, hid_t type) const {
    hid_t a = KN_H5_CHECK(H5Aopen(file_, name, H5P_DEFAULT));
    T v{};
    herr_t status = H5Aread(a, type, &v);
    H5Aclose(a);
    KN_CHECK(status >= 0, "cannot read attribute '", name, "' of the golden fixture");
    return v;
  }

  hid_t file_ = -1;
};

std::string fixture_path() { return (test::source_dir() / "tests" / "golden" / "seed32.h5").string(); }

// Element k of a host tensor of the model's floating-point type, as double.
double element(const Tensor& t, int64_t k) {
  return dispatch_float(t.dtype, [&](auto zero) { return static_cast<double>(t.as<decltype(zero)>()[k]); });
}

std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t k = 0; k < t.numel(); ++k) v[static_cast<size_t>(k)] = element(t, k);
  return v;
}

void assign(const Tensor& t, const std::vector<double>& v) {
  ASSERT_EQ(static_cast<int64_t>(v.size()), t.numel());
  dispatch_float(t.dtype, [&](auto zero) {
    using T = decltype(zero);
    for (int64_t k = 0; k < t.numel(); ++k) t.as<T>()[k] = static_cast<T>(v[static_cast<size_t>(k)]);
  });
}

// max |got - want| / max(max |want|, floor).
double normwise(const std::vector<double>& got, const std::vector<double>& want, double floor = 0) {
  double diff = 0, scale = floor;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::abs(got[i] - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

// log p minus its row mean: the logits up to the per-row shift that softmax removes.
std::vector<double> centred_log(const std::vector<double>& p, int64_t rows, int64_t k, bool already_logits) {
  std::vector<double> out(p.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0;
    for (int64_t j = 0; j < k; ++j) {
      double v = already_logits ? p[r * k + j] : std::log(p[r * k + j]);
      out[r * k + j] = v;
      mean += v / static_cast<double>(k);
    }
    for (int64_t j = 0; j < k; ++j) out[r * k + j] -= mean;
  }
  return out;
}

struct Case {
  DType dtype;
  double tol;
};

class Golden : public ::testing::TestWithParam<Case> {};

TEST_P(Golden, SeedModelMatchesPyTorch) {
  const Case c = GetParam();
  Fixture fx(fixture_path());

  ModelOptions opts;
  opts.batch = 4;
  opts.dtype = c.dtype;
  opts.seed = fx.attr_u64("rng_seed");
  opts.optimizer.name = "adagrad";
  opts.optimizer.lr = fx.attr_double("adagrad_lr");
  opts.optimizer.initial_accumulator = fx.attr_double("adagrad_initial_accumulator");
  opts.optimizer.epsilon = fx.attr_double("adagrad_epsilon");
  Model model(load_spec("seed"), opts, Shape{32, 32, 3});
  ASSERT_EQ(static_cast<uint64_t>(model.step_count()), fx.attr_u64("step")) << "the dropout mask is drawn for step 0";

  // Weights in, by layer and parameter name, with their shapes checked.
  int loaded = 0;
  for (const Model::Param& p : model.parameters()) {
    const std::string key = "params/" + p.layer + "/" + p.name;
    ASSERT_TRUE(fx.has(key)) << "the fixture lacks " << key << " (layer names or parameter names differ)";
    std::vector<int64_t> dims;
    std::vector<double> v = fx.doubles(key, &dims);
    ASSERT_EQ(static_cast<int>(dims.size()), p.value.shape.rank()) << key << " is " << p.value.shape.str();
    for (size_t d = 0; d < dims.size(); ++d)
      ASSERT_EQ(dims[d], p.value.shape[static_cast<int>(d)]) << key << ": knotnet's shape is " << p.value.shape.str();
    assign(p.value, v);
    ++loaded;
  }
  EXPECT_EQ(loaded, 14) << "the seed model has 5 layers with 2 parameters and one batch norm with 4";

  // The batch, in the model's element type (inputs are multiples of 2^-8: exact in float).
  std::vector<int64_t> xdims;
  std::vector<double> xd = fx.doubles("input", &xdims);
  ASSERT_EQ(xdims, (std::vector<int64_t>{4, 32, 32, 3}));
  std::vector<int32_t> labels = fx.ints("labels");
  std::vector<float> xf(xd.begin(), xd.end());
  Tensor x = c.dtype == DType::f64 ? Tensor(xd.data(), Shape{4, 32, 32, 3}, DType::f64)
                                   : Tensor(xf.data(), Shape{4, 32, 32, 3}, DType::f32);
  Tensor y(labels.data(), Shape{4}, DType::i32);

  // Inference first (batch norm on the moving statistics, no dropout): the state is untouched.
  const LossResult inf = model.evaluate_on_batch(x, y);
  const double inf_loss = fx.doubles("inference/loss")[0];
  EXPECT_LE(std::abs(inf.loss - inf_loss) / inf_loss, c.tol) << "inference loss " << inf.loss << ", PyTorch " << inf_loss;
  std::vector<double> inf_pd(12);
  std::vector<float> inf_pf(12);
  Tensor inf_p = c.dtype == DType::f64 ? Tensor(inf_pd.data(), Shape{4, 3}, DType::f64)
                                       : Tensor(inf_pf.data(), Shape{4, 3}, DType::f32);
  model.predict_on_batch(x, inf_p);
  EXPECT_LE(normwise(to_doubles(inf_p), fx.doubles("inference/probabilities")), c.tol) << "inference probabilities";

  // Training mode: forward and backward.
  LossResult r = model.forward_backward(x, y);

  const double loss = fx.doubles("loss")[0];
  EXPECT_LE(std::abs(r.loss - loss) / loss, c.tol) << "loss " << r.loss << ", PyTorch " << loss;

  const std::vector<double> probs = to_doubles(model.probabilities().first(4));
  const std::vector<double> want_probs = fx.doubles("probabilities");
  EXPECT_LE(normwise(probs, want_probs), c.tol) << "probabilities";
  const std::vector<double> logits = centred_log(probs, 4, 3, false);
  const std::vector<double> want_logits = centred_log(fx.doubles("logits"), 4, 3, true);
  EXPECT_LE(normwise(logits, want_logits), c.tol) << "logits (each row centred)";

  // Gradients, and the floor for analytically-zero ones (see the top of the file).
  double grad_scale = 0;
  for (const Model::Param& p : model.parameters())
    if (p.trainable)
      for (double g : fx.doubles("grads/" + p.layer + "/" + p.name)) grad_scale = std::max(grad_scale, std::abs(g));
  for (const Model::Param& p : model.parameters()) {
    const std::string id = p.layer + "/" + p.name;
    if (p.trainable) {
      double e = normwise(to_doubles(p.grad), fx.doubles("grads/" + id), 1e-2 * grad_scale);
      EXPECT_LE(e, c.tol) << "gradient of " << id;
      std::printf("  %s gradient of %-24s normwise error %.1e\n", dtype_name(c.dtype), id.c_str(), e);
    } else {
      // Moving statistics after the training forward pass (Keras: momentum 0.99, biased variance).
      EXPECT_LE(normwise(to_doubles(p.value), fx.doubles("statistics_after/" + id)), c.tol) << id;
    }
  }

  // One Adagrad step.
  model.apply_update();
  for (const Model::Param& p : model.parameters()) {
    const std::string id = p.layer + "/" + p.name;
    if (p.trainable) {
      EXPECT_LE(normwise(to_doubles(p.value), fx.doubles("adagrad/" + id)), c.tol) << "after Adagrad: " << id;
    } else {
      EXPECT_LE(normwise(to_doubles(p.value), fx.doubles("statistics_after/" + id)), c.tol)
          << "the optimizer must not touch " << id;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Precisions, Golden,
                         ::testing::Values(Case{DType::f64, 1e-10}, Case{DType::f32, 1e-4}),
                         [](const ::testing::TestParamInfo<Case>& case_info) {
                           return std::string(dtype_name(case_info.param.dtype));
                         });

// The fixture itself: a guard against regenerating it with a broken script.
TEST(GoldenFixture, IsWhatTheTestExpects) {
  Fixture fx(fixture_path());
  EXPECT_EQ(fx.attr_u64("rng_seed"), ModelOptions{}.seed) << "the dropout mask was drawn with the default seed";
  EXPECT_GT(fx.attr_double("min_kink_margin"), 1e-6) << "float32 might flip a ReLU or max-pool decision";
  std::vector<int32_t> labels = fx.ints("labels");
  ASSERT_EQ(labels.size(), 4u);
  for (int32_t l : labels) EXPECT_TRUE(l >= 0 && l < 3);
  std::vector<double> x = fx.doubles("input");
  EXPECT_GT(*std::max_element(x.begin(), x.end()), 0.5);
  EXPECT_FALSE(fx.has("params/conv_4/kernel"));
}

}  // namespace
}  // namespace knotnet
