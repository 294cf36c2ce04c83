// Checkpoints: a save/load round trip restores every parameter, statistic, optimizer slot, the
// learning rate and the step count, so training continues bit-identically; bad files get
// clear errors; a save never leaves a temporary file behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/checkpoint.h"
#include "tests/support/test_support.h"
#include "tests/support/toy_source.h"

namespace knotnet {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Model> tiny(uint64_t seed) {
  ModelOptions opt;
  opt.batch = 16;
  opt.seed = seed;
  opt.optimizer.name = "adam";
  return std::make_unique<Model>(load_spec("tiny"), opt);
}

void train_steps(Model& m, int64_t first, int steps) {
  for (int s = 0; s < steps; ++s) {
    ToyBatch b = make_toy_batch(first + s * 16, 16, 16, 16, 9);
    m.train_on_batch(Tensor(b.images.data(), Shape{16, 16, 16, 3}, DType::u8),
                     Tensor(b.labels.data(), Shape{16}, DType::i32));
  }
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.bytes() == b.bytes() && std::memcmp(a.data, b.data, a.bytes()) == 0;
}

TEST(Checkpoint, RoundTripContinuesBitIdentically) {
  test::TempDir dir;
  auto a = tiny(1);
  train_steps(*a, 0, 5);
  a->optimizer().set_lr(0.0005);
  std::string path = (dir / "ck.h5").string();
  save_checkpoint(path, *a, named_spec_text("tiny"), 3, R"({"note":"x"})");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1) << "temporary file left behind";

  CheckpointInfo info = read_checkpoint_info(path);
  EXPECT_EQ(info.epoch, 3);
  EXPECT_EQ(info.step, 5);
  EXPECT_EQ(info.trainer_state, R"({"note":"x"})");
  EXPECT_EQ(info.input_shape, Shape({16, 16, 3}));
  EXPECT_DOUBLE_EQ(info.lr, 0.0005);

  auto b = model_from_checkpoint(path, 16, Device::cpu);  // different init seed would differ; weights come from the file
  EXPECT_TRUE(same_bytes(a->flat_parameters(), b->flat_parameters()));
  EXPECT_TRUE(same_bytes(a->flat_statistics(), b->flat_statistics()));
  for (size_t i = 0; i < a->optimizer_state().size(); ++i)
    EXPECT_TRUE(same_bytes(a->optimizer_state()[i], b->optimizer_state()[i]));
  EXPECT_EQ(b->step_count(), 5);
  // Continuing both gives the same weights: dropout masks and Adam's step agree.
  train_steps(*a, 1000, 3);
  train_steps(*b, 1000, 3);
  EXPECT_TRUE(same_bytes(a->flat_parameters(), b->flat_parameters()));
}

TEST(Checkpoint, BadFilesAreRejectedClearly) {
  test::TempDir dir;
  auto message = [](const std::string& path) -> std::string {
    try {
      read_checkpoint_info(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_THAT(message((dir / "missing.h5").string()), HasSubstr("does not exist"));
  std::ofstream((dir / "junk.h5").string()) << "not hdf5";
  EXPECT_THAT(message((dir / "junk.h5").string()), HasSubstr("not a readable HDF5 file"));
  auto m = tiny(1);
  std::string path = (dir / "ck.h5").string();
  save_checkpoint(path, *m, named_spec_text("tiny"), 0, "{}");
  // A model of another shape cannot take these weights.
  ModelOptions opt;
  opt.batch = 16;
  Model other(parse_spec("input 16 16 3\nconv 4 3 same\nflatten\ndense 3\nsoftmax\n"), opt);
  try {
    load_checkpoint(path, other);
    FAIL() << "mismatched model must be rejected";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("conv_1"));
  }
}

}  // namespace
}  // namespace knotnet
