// Bad spec lines: every argument and shape error make_layer raises is checked for its message,
// which must name the line and say what was expected; the model adds the spec's origin. Also
// the named spec "seed": the original question's model, 3,379,811 trainable parameters and 128
// non-trainable BN statistics at 128x128x3.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/model.h"
#include "engine/spec.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_support.h"

namespace knotnet::test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// The message make_layer throws for `line` (at spec line `number`) on per-sample input `in`.
std::string error_of(const std::string& line, Shape in, int number = 3) {
  try {
    make_layer(spec_line(line, number), in, "layer_1");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

const Shape kImage{128, 128, 3};

struct BadLine {
  std::string line;
  Shape in;
  std::string message;
};

TEST(SpecErrors, EveryBadLineNamesItsLineAndTheProblem) {
  const std::vector<BadLine> cases = {
      // conv
      {"conv 64", kImage, "conv takes FILTERS KERNEL [valid|same], got 'conv 64'"},
      {"conv", kImage, "conv takes FILTERS KERNEL [valid|same], got 'conv'"},
      {"conv 64 3 valid 1", kImage, "conv takes FILTERS KERNEL [valid|same], got 'conv 64 3 valid 1'"},
      {"conv 0 3", kImage, "conv FILTERS must be a positive integer, got '0' in 'conv 0 3'"},
      {"conv sixty 3", kImage, "conv FILTERS must be a positive integer, got 'sixty'"},
      {"conv 64 x", kImage, "conv KERNEL must be a positive integer, got 'x' in 'conv 64 x'"},
      {"conv 64 3.5", kImage, "conv KERNEL must be a positive integer, got '3.5'"},
      {"conv 64 -3", kImage, "conv KERNEL must be a positive integer, got '-3'"},
      {"conv 64 3 full", kImage, "conv padding must be 'valid' or 'same', got 'full' in 'conv 64 3 full'"},
      {"conv 64 3 valid fast", kImage, "conv takes FILTERS KERNEL [valid|same], got 'conv 64 3 valid fast'"},
      {"conv 64 3 valid implicit 1", kImage, "an optional 4th word after the padding picks the GPU convolution"},
      {"conv 8 5 valid", Shape{3, 3, 8}, "conv kernel 5 is larger than its input (3, 3, 8) with valid padding"},
      {"conv 8 4", Shape{9, 3, 8}, "conv kernel 4 is larger than its input (9, 3, 8) with valid padding"},
      {"conv 8 3", Shape{128}, "conv 8 3 needs a spatial (H, W, C) input, got (128) (conv cannot follow flatten"},
      // maxpool
      {"maxpool 2", Shape{128}, "maxpool 2 needs a spatial input, got (128)"},
      {"maxpool 3", kImage, "maxpool supports only a 2x2 window with stride 2 ('maxpool 2'), got 'maxpool 3'"},
      {"maxpool", kImage, "maxpool takes the window size, and only 2 is supported ('maxpool 2'), got 'maxpool'"},
      {"maxpool 2 2", kImage, "maxpool takes the window size, and only 2 is supported"},
      {"maxpool two", kImage, "maxpool window size must be a positive integer, got 'two'"},
      {"maxpool 2", Shape{1, 5, 3}, "maxpool 2 needs an input of at least 2x2, got (1, 5, 3)"},
      // avgpool
      {"avgpool 2", Shape{128}, "avgpool 2 needs a spatial input, got (128)"},
      {"avgpool 4", kImage, "avgpool supports only a 2x2 window with stride 2 ('avgpool 2'), got 'avgpool 4'"},
      {"avgpool", kImage, "avgpool takes the window size, and only 2 is supported ('avgpool 2'), got 'avgpool'"},
      {"avgpool 2", Shape{5, 1, 3}, "avgpool 2 needs an input of at least 2x2, got (5, 1, 3)"},
      // dense
      {"dense 128", Shape{12, 12, 128},
       "dense needs flat features, got (12, 12, 128) per sample; add 'flatten' before it"},
      {"dense", Shape{10}, "dense takes UNITS, got 'dense'"},
      {"dense 3 4", Shape{10}, "dense takes UNITS, got 'dense 3 4'"},
      {"dense -3", Shape{10}, "dense UNITS must be a positive integer, got '-3'"},
      {"dense 0", Shape{10}, "dense UNITS must be a positive integer, got '0'"},
      // dropout
      {"dropout 1", Shape{10}, "dropout rate must be a number in [0, 1), got '1'"},
      {"dropout 1.5", Shape{10}, "dropout rate must be a number in [0, 1), got '1.5'"},
      {"dropout -0.1", Shape{10}, "dropout rate must be a number in [0, 1), got '-0.1'"},
      {"dropout half", Shape{10}, "dropout rate must be a number in [0, 1), got 'half'"},
      {"dropout nan", Shape{10}, "dropout rate must be a number in [0, 1), got 'nan'"},
      {"dropout 0.5x", Shape{10}, "dropout rate must be a number in [0, 1), got '0.5x'"},
      {"dropout", Shape{10}, "dropout takes RATE (in [0, 1)), got 'dropout'"},
      // layers without arguments
      {"relu 2", kImage, "relu takes no arguments, got 'relu 2'"},
      {"batchnorm 0.99", kImage, "batchnorm takes no arguments, got 'batchnorm 0.99'"},
      {"flatten all", kImage, "flatten takes no arguments, got 'flatten all'"},
      // kinds
      {"convv 64 3", kImage,
       "unknown layer 'convv'; known layers: conv, batchnorm, relu, maxpool, avgpool, flatten, dense, dropout, and softmax as "
       "the last line"},
      {"Conv 64 3", kImage, "unknown layer 'Conv'"},
      {"softmax", Shape{3},
       "softmax is not a layer on its own: it is fused with the loss and must be the model's last line"},
      {"input 3 3 3", kImage, "'input' must be the spec's first line"},
  };
  for (const BadLine& c : cases) {
    const std::string message = error_of(c.line, c.in, 7);
    EXPECT_THAT(message, StartsWith("line 7: ")) << c.line;
    EXPECT_THAT(message, HasSubstr(c.message)) << c.line;
  }
}

TEST(SpecErrors, GoodLinesAreAccepted) {
  for (const char* line : {"conv 64 3", "conv 64 3 valid", "conv 1 1 same", "conv 2 128 same", "conv 8 3 valid implicit", "conv 8 3 same cudnn", "batchnorm", "relu",
                           "maxpool 2", "avgpool 2", "flatten", "dropout 0", "dropout 0.999"})
    EXPECT_NO_THROW(make_layer(spec_line(line), kImage, "x")) << line;
  EXPECT_NO_THROW(make_layer(spec_line("dense 1"), Shape{5}, "x"));
  EXPECT_NO_THROW(make_layer(spec_line("batchnorm"), Shape{5}, "x"));
  EXPECT_NO_THROW(make_layer(spec_line("conv 8 3 valid"), Shape{3, 3, 1}, "x"));  // exactly fits: 1x1 output
}

// Model-level: the message names the spec's origin and line, with the shape inferred so far.
std::string model_error(const std::string& text) {
  try {
    ModelOptions o;
    o.batch = 2;
    Model m(parse_spec(text, "my.spec"), o);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(SpecErrors, ModelMessagesNameOriginLineAndInferredShape) {
  EXPECT_THAT(model_error("input 8 8 3\nconv 4 3\nflatten\nmaxpool 2\ndense 3\nsoftmax\n"),
              HasSubstr("my.spec: line 4: maxpool 2 needs a spatial input, got (144)"));
  EXPECT_THAT(
      model_error("input 8 8 3\nconv 4 3\n\n# a comment\ndense 3\nsoftmax\n"),
      HasSubstr("my.spec: line 5: dense needs flat features, got (6, 6, 4) per sample; add 'flatten' before it"));
  EXPECT_THAT(model_error("input 4 4 3\nconv 4 3\nconv 4 3\nflatten\ndense 3\nsoftmax\n"),
              HasSubstr("my.spec: line 3: conv kernel 3 is larger than its input (2, 2, 4) with valid padding"));
  EXPECT_THAT(model_error("input 8 8 3\npool 2\nflatten\ndense 3\nsoftmax\n"),
              HasSubstr("my.spec: line 2: unknown layer 'pool'; known layers: conv,"));
}

TEST(SeedModel, HasTheOriginalParameterCounts) {
  ModelOptions o;
  o.batch = 2;
  o.dtype = DType::f32;
  o.device = Device::cpu;
  Model m(load_spec("seed"), o);
  EXPECT_EQ(m.input_shape(), (Shape{128, 128, 3}));
  EXPECT_EQ(m.trainable_count(), 3379811);
  EXPECT_EQ(m.statistics_count(), 128);
  EXPECT_EQ(m.classes(), 3);
  const std::vector<std::pair<std::string, Shape>> want = {
      {"conv 64 3 valid", Shape{126, 126, 64}},
      {"batchnorm", Shape{126, 126, 64}},
      {"relu", Shape{126, 126, 64}},
      {"maxpool 2", Shape{63, 63, 64}},
      {"conv 96 3 same", Shape{63, 63, 96}},
      {"relu", Shape{63, 63, 96}},
      {"maxpool 2", Shape{31, 31, 96}},
      {"conv 128 3 valid", Shape{29, 29, 128}},
      {"relu", Shape{29, 29, 128}},
      {"maxpool 2", Shape{14, 14, 128}},
      {"flatten", Shape{25088}},
      {"dense 128", Shape{128}},
      {"relu", Shape{128}},
      {"dropout 0.5", Shape{128}},
      {"dense 3", Shape{3}},
  };
  ASSERT_EQ(m.layers().size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(m.layers()[i]->describe(), want[i].first) << i;
    EXPECT_EQ(m.layers()[i]->output_shape(), want[i].second) << want[i].first;
  }
  EXPECT_THAT(m.summary(), HasSubstr("Trainable params: 3,379,811"));
  EXPECT_THAT(m.summary(), HasSubstr("Non-trainable params: 128"));
}

// specs/seed_conv4.spec, issue 7's proposed change (docs/quality_bar.md): the seed's layers
// unchanged, then one conv 128 / relu / maxpool 2 block, so that dense_1 reads 7x7x128.
TEST(SpecErrors, SeedConv4IsTheSeedWithOneMoreConvBlock) {
  ModelOptions o;
  o.allocate = false;
  Model conv4(load_spec((source_dir() / "specs" / "seed_conv4.spec").string()), o);
  Model seed(load_spec("seed"), o);
  const auto& d = conv4.layers();
  const auto& s = seed.layers();
  ASSERT_EQ(d.size(), s.size() + 3);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(d[i]->describe(), s[i]->describe()) << i;
  EXPECT_EQ(d[10]->describe(), "conv 128 3 same");
  EXPECT_EQ(d[11]->describe(), "relu");
  EXPECT_EQ(d[12]->describe(), "maxpool 2");
  EXPECT_EQ(d[12]->output_shape(), (Shape{7, 7, 128}));
  EXPECT_EQ(d[13]->output_shape(), (Shape{6272}));
  for (size_t i = 14; i < d.size(); ++i) EXPECT_EQ(d[i]->describe(), s[i - 3]->describe()) << i;
  EXPECT_THAT(conv4.summary(), HasSubstr("Trainable params: 1,118,947"));
}

// specs/seed_avgpool.spec, issue 7's proposed change (docs/quality_bar.md): one avgpool 2 before
// the seed's layers, which then see the 128x128 images at 64x64 and are the seed at 64x64.
TEST(SpecErrors, SeedAvgpoolIsTheSeedReadingHalfResolution) {
  ModelOptions o;
  o.allocate = false;
  Model avg(load_spec((source_dir() / "specs" / "seed_avgpool.spec").string()), o);
  Model seed64(load_spec("seed"), o, Shape{64, 64, 3});
  const auto& a = avg.layers();
  const auto& s = seed64.layers();
  ASSERT_EQ(a.size(), s.size() + 1);
  EXPECT_EQ(a[0]->describe(), "avgpool 2");
  EXPECT_EQ(a[0]->input_shape(), (Shape{128, 128, 3}));
  EXPECT_EQ(a[0]->output_shape(), (Shape{64, 64, 3}));
  for (size_t i = 0; i < s.size(); ++i) {
    EXPECT_EQ(a[i + 1]->describe(), s[i]->describe()) << i;
    EXPECT_EQ(a[i + 1]->output_shape(), s[i]->output_shape()) << s[i]->describe();
  }
  EXPECT_EQ(a[11]->output_shape(), (Shape{4608}));  // flatten: 6x6x128
  EXPECT_THAT(avg.summary(), HasSubstr("Trainable params: 758,371"));
}

}  // namespace
}  // namespace knotnet::test
