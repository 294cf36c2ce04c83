// Fusing batchnorm -> relu (-> maxpool 2) in a CUDA model, checked without a GPU on plan-only
// models: which layers fuse, that parameters keep their names, order and shapes (checkpoints and
// the CPU comparison rely on it), that the fused plan holds none of the intermediate tensors and
// needs less memory, and that the CPU and fuse=false never fuse. The fused kernels themselves are
// checked on the GPU (test_cuda_batchnorm, test_cuda_model).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/format.h"
#include "engine/layers/fused_bn_relu_pool.h"
#include "engine/model.h"

namespace knotnet {
namespace {

Model plan_only(const std::string& spec_text, Device device, bool fuse, int64_t batch = 8) {
  ModelOptions o;
  o.batch = batch;
  o.device = device;
  o.allocate = false;
  o.fuse = fuse;
  return Model(parse_spec(spec_text, "test spec"), o);
}

const BufferDecl* find_buffer(const MemoryPlan& plan, const std::string& name) {
  for (size_t i = 0; i < plan.size(); ++i)
    if (plan.buffer(static_cast<int>(i)).name == name) return &plan.buffer(static_cast<int>(i));
  return nullptr;
}
bool has_buffer(const MemoryPlan& plan, const std::string& name) { return find_buffer(plan, name) != nullptr; }

// "layer/param shape" for every parameter, in the model's order.
std::vector<std::string> params_of(const Model& m) {
  std::vector<std::string> out;
  for (const auto& l : m.layers())
    for (const ParamInfo& p : l->param_infos())
      out.push_back(l->name() + "/" + p.name + " " + p.shape.str() + (p.trainable ? "" : " (statistics)"));
  return out;
}

TEST(Fusion, SeedFusesItsBatchNormReluPoolAndKeepsParameters) {
  ModelOptions o;
  o.batch = 128;
  o.allocate = false;
  o.device = Device::cuda;
  Model fused(load_spec("seed"), o);
  o.fuse = false;
  Model unfused(load_spec("seed"), o);
  o.device = Device::cpu;
  Model cpu(load_spec("seed"), o);
  ASSERT_EQ(unfused.layers().size(), cpu.layers().size());
  ASSERT_EQ(fused.layers().size(), cpu.layers().size() - 2);
  const Layer& f = *fused.layers()[1];
  EXPECT_EQ(f.name(), "batchnorm_1");
  EXPECT_STREQ(f.kind(), "batchnorm+relu+maxpool");
  EXPECT_EQ(f.output_shape(), Shape({63, 63, 64}));
  EXPECT_EQ(fused.layers()[2]->name(), "conv_2");
  // Parameters: same names, order and shapes as the CPU model.
  EXPECT_EQ(params_of(fused), params_of(cpu));
  EXPECT_EQ(fused.trainable_count(), cpu.trainable_count());
  EXPECT_EQ(fused.statistics_count(), cpu.statistics_count());
  // No intermediate tensors (the fused layer's own output, named after it, is the pooled one),
  // and less memory.
  for (const char* gone : {"relu_1.out", "relu_1.grad", "maxpool_1.out", "maxpool_1.grad"})
    EXPECT_FALSE(has_buffer(fused.plan(), gone)) << gone;
  ASSERT_TRUE(has_buffer(fused.plan(), "batchnorm_1.out"));
  EXPECT_EQ(find_buffer(fused.plan(), "batchnorm_1.out")->shape, Shape({128, 63, 63, 64}));
  EXPECT_EQ(find_buffer(fused.plan(), "batchnorm_1.grad")->shape, Shape({128, 63, 63, 64}));
  EXPECT_TRUE(has_buffer(unfused.plan(), "relu_1.out"));
  EXPECT_TRUE(has_buffer(fused.plan(), "batchnorm_1.argmax"));
  EXPECT_LT(fused.plan().total_bytes(), unfused.plan().total_bytes());
  std::printf("seed at batch 128 on the GPU: fused plan %s, unfused %s\n", format_bytes(fused.plan().total_bytes()).c_str(),
              format_bytes(unfused.plan().total_bytes()).c_str());
}

TEST(Fusion, ChainsFuseAsFarAsTheyCan) {
  // BN -> relu with no pool after it, BN -> relu -> pool on an odd size (pool left unfused),
  // BN on flat features (not fused), BN not followed by relu (not fused).
  const std::string text =
      "input 10 10 3\n"
      "conv 4 3 same\nbatchnorm\nrelu\nconv 4 3 valid\n"  // 10x10: BN+relu, then a conv
      "batchnorm\nrelu\nmaxpool 2\n"                      // 8x8: BN+relu+pool
      "conv 4 2 valid\nbatchnorm\nrelu\nmaxpool 2\n"      // 3x3: odd, pool stays separate
      "batchnorm\nconv 4 1 valid\n"                       // BN then conv: not fused
      "flatten\ndense 5\nbatchnorm\nrelu\ndense 3\nsoftmax\n";
  Model m = plan_only(text, Device::cuda, true);
  std::vector<std::string> kinds;
  for (const auto& l : m.layers()) kinds.push_back(l->kind());
  EXPECT_EQ(kinds, (std::vector<std::string>{"conv", "batchnorm+relu", "conv", "batchnorm+relu+maxpool", "conv",
                                             "batchnorm+relu", "maxpool", "batchnorm", "conv", "flatten", "dense",
                                             "batchnorm", "relu", "dense"}));
  Model cpu = plan_only(text, Device::cpu, true);
  Model off = plan_only(text, Device::cuda, false);
  EXPECT_EQ(cpu.layers().size(), 18u);
  EXPECT_EQ(off.layers().size(), 18u);
  EXPECT_EQ(params_of(m), params_of(cpu));
}

}  // namespace
}  // namespace knotnet
