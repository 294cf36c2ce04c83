// train_knots inspect, run as a program: what it reports for a good file (as JSON and as text),
// and that a bad file makes it exit non-zero with a message naming the problem.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/h5_dataset.h"
#include "tests/support/h5_fixtures.h"
#include "tests/support/test_support.h"

using namespace knotnet;
using namespace knotnet::test;

namespace {

class Inspect : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(bin())) << "build the train_knots target first: " << bin();
  }
  static std::string bin() { return (binary_dir() / "bin" / "train_knots").string(); }
  int inspect(const std::string& args, std::string* out) {
    out->clear();
    return run_command(bin() + " inspect " + args, out);
  }
  nlohmann::json inspect_json(const std::string& args) {
    std::string out;
    EXPECT_EQ(inspect(args + " --json 2>/dev/null", &out), 0) << out;
    return nlohmann::json::parse(out);
  }
  std::string path(const std::string& name = "data.h5") const { return (dir / name).string(); }
  TempDir dir;
};

TEST_F(Inspect, ReportsLayoutClassesSplitsAndFirstBatches) {
  ImageFileSpec spec;
  spec.n = 3000;
  spec.chunk = {64, 8, 8, 3};
  spec.deflate = 4;
  spec.shuffle = true;
  spec.labels = LabelKind::onehot_f32;
  spec.class_names = {"unknot", "trefoil+", "trefoil-"};
  spec.complete = 1;
  write_image_file(path(), spec);
  nlohmann::json j = inspect_json("--data " + path() + " --batch 64 --batches 4");
  EXPECT_EQ(j["file"], path());
  EXPECT_EQ(j["images"]["n"], 3000);
  EXPECT_EQ(j["images"]["dtype"], "uint8");
  EXPECT_EQ(j["images"]["image_shape"], nlohmann::json({8, 8, 3}));
  EXPECT_EQ(j["storage"]["layout"], "chunked");
  EXPECT_EQ(j["storage"]["filters"], nlohmann::json({"shuffle", "deflate"}));
  EXPECT_EQ(j["storage"]["deflate_level"], 4);
  EXPECT_EQ(j["storage"]["read_path"], "direct");
  EXPECT_EQ(j["labels"]["format"], "one-hot");
  EXPECT_EQ(j["labels"]["class_names"], nlohmann::json({"unknot", "trefoil+", "trefoil-"}));
  EXPECT_EQ(j["class_counts"], nlohmann::json({1000, 1000, 1000}));
  EXPECT_EQ(j["split"]["train"]["n"], 2100);
  EXPECT_EQ(j["split"]["validation"]["class_counts"], nlohmann::json({150, 150, 150}));
  EXPECT_EQ(j["split"]["test"]["n"], 450);
  ASSERT_EQ(j["first_batches"].size(), 4u);
  for (const auto& b : j["first_batches"]) {
    int64_t sum = 0;
    for (int64_t c : b["class_counts"]) {
      EXPECT_GT(c, 0);  // a sorted file, yet every batch holds every class
      sum += c;
    }
    EXPECT_EQ(sum, 64);
  }
  EXPECT_EQ(j["reader"]["batches_per_epoch"], (2100 + 63) / 64);
  EXPECT_TRUE(j["warnings"].empty()) << j["warnings"];

  std::string out;
  ASSERT_EQ(inspect("--data " + path() + " --batches 3", &out), 0) << out;
  EXPECT_NE(out.find("complete: knotnet_complete = 1"), std::string::npos) << out;
  EXPECT_NE(out.find("0 unknot 1,000 (33.3%)"), std::string::npos) << out;
  EXPECT_NE(out.find("first 3 batches (train, epoch 0, shuffled)"), std::string::npos) << out;
}

TEST_F(Inspect, ShuffleNoneWarnsAndShowsOneClassBatches) {
  ImageFileSpec spec;
  spec.n = 2000;
  spec.chunk = {50, 8, 8, 3};
  write_image_file(path(), spec);
  nlohmann::json j = inspect_json("--data " + path() + " --shuffle none --batches 2");
  EXPECT_EQ(j["first_batches"][0]["class_counts"], nlohmann::json({128, 0, 0}));
  EXPECT_LT(j["first_batches"][0]["chi_square_p"].get<double>(), 1e-10);
  ASSERT_EQ(j["warnings"].size(), 1u);
  EXPECT_NE(j["warnings"][0].get<std::string>().find("shuffling is off"), std::string::npos);
}

TEST_F(Inspect, VerifyReadsEveryChunk) {
  ImageFileSpec spec;
  spec.n = 1280;
  spec.chunk = {64, 8, 8, 3};
  spec.deflate = 5;
  write_image_file(path(), spec);
  nlohmann::json j = inspect_json("--data " + path() + " --verify");
  EXPECT_EQ(j["verify"]["ok"], true);
  EXPECT_EQ(j["verify"]["images"], 1280);

  uint64_t addr = 0;
  {
    ImageDataset ds(path());
    addr = ds.index().chunks[17].address;
  }
  {
    std::fstream f(path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(addr + 20));
    f.write("garbage garbage garbage", 23);
  }
  std::string out;
  EXPECT_EQ(inspect("--data " + path(), &out), 0) << out;  // planning alone reads no pixels
  EXPECT_EQ(inspect("--data " + path() + " --verify", &out), 1) << out;
  EXPECT_NE(out.find("rows 1088..1151 of /train_data in " + path()), std::string::npos) << out;
  EXPECT_NE(out.find("corrupt chunk"), std::string::npos) << out;
}

TEST_F(Inspect, BadFilesExitNonZeroWithTheProblem) {
  std::string out;
  EXPECT_EQ(inspect("--data " + path("missing.h5"), &out), 1);
  EXPECT_NE(out.find(path("missing.h5") + ": no such file"), std::string::npos) << out;

  std::ofstream(path("junk.h5")) << "not hdf5";
  EXPECT_EQ(inspect("--data " + path("junk.h5"), &out), 1);
  EXPECT_NE(out.find("not an HDF5 file"), std::string::npos) << out;

  ImageFileSpec spec;
  spec.complete = 0;
  write_image_file(path("partial.h5"), spec);
  EXPECT_EQ(inspect("--data " + path("partial.h5"), &out), 1);
  EXPECT_NE(out.find("is incomplete"), std::string::npos) << out;

  spec.complete = -1;
  spec.flat = true;
  spec.height = 5;
  spec.width = 7;
  write_image_file(path("flat.h5"), spec);
  EXPECT_EQ(inspect("--data " + path("flat.h5"), &out), 1);
  EXPECT_NE(out.find("--image-shape"), std::string::npos) << out;
  EXPECT_EQ(inspect("--data " + path("flat.h5") + " --image-shape 5,7,3", &out), 0) << out;
  EXPECT_NE(out.find("600 images of 5x7x3 (the image shape given)"), std::string::npos) << out;

  EXPECT_EQ(inspect("--data " + path("flat.h5") + " --image-shape 5,7,3 --split 50", &out), 1);
  EXPECT_NE(out.find("split '50'"), std::string::npos) << out;
}

}  // namespace
