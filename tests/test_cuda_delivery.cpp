// The reader's delivery to the GPU: the staging slots' bookkeeping (runs anywhere), then, with a
// GPU, a reader delivering a generated file to a model's device staging compared byte for byte
// with the host path, and the model's device-batch step compared with its host-batch step.
// Expected agreement is exact: the same bytes go through the same conversion and kernels (the
// model uses the hand-written implicit-GEMM convolution, which is deterministic).
// Under compute-sanitizer (scripts/gpu-check) every case here is small.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "delivery/cuda_batch_delivery.h"
#include "delivery/pinned_host_allocator.h"
#include "engine/batch_source.h"
#include "engine/cuda_context.h"
#include "engine/device_copy.h"
#include "engine/device_staging.h"
#include "engine/model.h"
#include "engine/rng.h"
#include "io/batch_reader.h"
#include "io/h5_dataset.h"
#include "io/host_buffer.h"
#include "tests/support/cuda_testing.h"
#include "tests/support/h5_fixtures.h"
#include "tests/support/test_support.h"

namespace knotnet {
namespace {

using test::have_gpu;

const char* const kSpec = test::small_deterministic_spec();

ModelOptions options(Device device, int64_t batch) {
  ModelOptions o;
  o.batch = batch;
  o.device = device;
  o.seed = 7;
  o.optimizer.name = "sgd";
  o.optimizer.lr = 0.05;
  return o;
}

// --- Bookkeeping, no GPU needed -----------------------------------------------------------

TEST(StagingSlots, AlternateAndGoStaleTwoUploadsLater) {
  StagingSlots slots;
  StagingSlots::Ticket none;
  EXPECT_FALSE(slots.holds(none));
  const auto a = slots.claim();
  const auto b = slots.claim();
  EXPECT_EQ(a.slot, 0);
  EXPECT_EQ(b.slot, 1);
  EXPECT_TRUE(slots.holds(a));
  EXPECT_TRUE(slots.holds(b));  // two batches may be in flight at once: k computing, k+1 copying
  const auto c = slots.claim();
  EXPECT_EQ(c.slot, 0);
  EXPECT_FALSE(slots.holds(a));  // a's slot now holds c
  EXPECT_TRUE(slots.holds(b));
  EXPECT_TRUE(slots.holds(c));
  EXPECT_EQ(slots.issued(), 3u);
  EXPECT_FALSE(slots.holds({5, c.generation}));
}

TEST(DeviceStagingPlan, OnlyCudaPlansHaveStagingSlots) {
  const ModelSpec spec = parse_spec(kSpec, "delivery test");
  auto staging_buffers = [](const MemoryPlan& plan) {
    int count = 0;
    for (size_t i = 0; i < plan.size(); ++i)
      if (plan.buffer(static_cast<MemoryPlan::Id>(i)).name.rfind("staging", 0) == 0) ++count;
    return count;
  };
  ModelOptions cpu = options(Device::cpu, 16);
  ModelOptions gpu = options(Device::cuda, 16);
  cpu.allocate = gpu.allocate = false;
  EXPECT_EQ(staging_buffers(Model(spec, cpu).plan()), 0);
  const Model planned(spec, gpu);  // plan-only: no GPU needed
  EXPECT_EQ(staging_buffers(planned.plan()), 4);  // two slots of images and labels
  // A CPU model has no device staging, and a BatchSource delivers host batches by default.
  Model host(spec, options(Device::cpu, 16));
  EXPECT_THROW(host.device_staging(), Error);
}

#ifndef KNOTNET_HAVE_CUDA
TEST(CudaDelivery, CpuBuildSaysItHasNoCudaBackend) {
  EXPECT_THROW(pinned_host_allocator().allocate(64), Error);
}
#endif

// --- With a GPU ---------------------------------------------------------------------------

#ifdef KNOTNET_HAVE_CUDA

std::vector<uint8_t> device_bytes(const Tensor& t) {
  std::vector<uint8_t> out(t.bytes());
  KN_CUDA_CHECK(cudaMemcpy(out.data(), t.data, t.bytes(), cudaMemcpyDeviceToHost));
  return out;
}

TEST(CudaDelivery, PinnedAllocatorGivesPageLockedMemory) {
  KN_REQUIRE_GPU();
  HostBuffer buf(pinned_host_allocator(), 1 << 20);
  cudaPointerAttributes attr{};
  KN_CUDA_CHECK(cudaPointerGetAttributes(&attr, buf.data()));
  EXPECT_EQ(attr.type, cudaMemoryTypeHost);
}

TEST(CudaDelivery, ReaderDeliversTheHostPathsBatchesByteForByte) {
  KN_REQUIRE_GPU();
  test::TempDir dir;
  const auto path = dir / "delivery.h5";
  test::ImageFileSpec fs;
  fs.n = 600;
  fs.chunk = {64, 8, 8, 3};
  test::write_image_file(path, fs);
  ImageDataset ds(path.string());
  std::vector<int64_t> rows(600);
  std::iota(rows.begin(), rows.end(), 0);

  Model model(parse_spec(kSpec, "delivery test"), options(Device::cuda, 16));
  ReaderOptions opt;
  opt.batch = 16;
  opt.window_samples = 64;  // a small ring: host slots are reused many times
  opt.threads = 2;
  CudaBatchDelivery delivery(model.device_staging());
  ReaderOptions dev_opt = opt;
  dev_opt.allocator = &pinned_host_allocator();
  dev_opt.delivery = &delivery;
  int64_t batches = 0;
  {
    BatchReader host(ds, rows, opt), dev(ds, rows, dev_opt);
    for (int e = 0; e < 2; ++e) {
      host.start_epoch(e);
      dev.start_epoch(e);
      Batch h, d;
      while (host.next(h)) {
        ASSERT_TRUE(dev.next(d));
        ASSERT_EQ(d.size, h.size);
        ASSERT_EQ(d.device_images.device, Device::cuda);
        ASSERT_EQ(d.device_images.shape, h.images.shape);
        // The test reads the slot back itself, so it waits for the copy stream here (a step
        // would wait on the staging's event instead).
        KN_CUDA_CHECK(cudaStreamSynchronize(CudaContext::get().copy()));
        const auto img = device_bytes(d.device_images);
        const auto lab = device_bytes(d.device_labels);
        ASSERT_EQ(0, std::memcmp(img.data(), h.images.data, h.images.bytes())) << "batch " << batches;
        ASSERT_EQ(0, std::memcmp(lab.data(), h.labels.data, h.labels.bytes())) << "batch " << batches;
        EXPECT_EQ(delivery.last().images.data, d.device_images.data);
        ++batches;
      }
      EXPECT_FALSE(dev.next(d));
    }
  }
  EXPECT_EQ(batches, 2 * ((600 + 15) / 16));
  EXPECT_EQ(delivery.delivered(), batches);
}

// Random batches of `n` images and labels, as a reader would hand them out.
struct HostBatch {
  std::vector<uint8_t> images;
  std::vector<int32_t> labels;
  int64_t n;
  Tensor x() { return Tensor(images.data(), Shape{n, 8, 8, 3}, DType::u8); }
  Tensor y() { return Tensor(labels.data(), Shape{n}, DType::i32); }
};
HostBatch random_batch(int64_t n, uint64_t stream) {
  HostBatch b{std::vector<uint8_t>(static_cast<size_t>(n * 192)), std::vector<int32_t>(static_cast<size_t>(n)), n};
  for (size_t i = 0; i < b.images.size(); ++i)
    b.images[i] = static_cast<uint8_t>(random_uniform_double(3, stream, i) * 256.0);
  for (size_t i = 0; i < b.labels.size(); ++i)
    b.labels[i] = static_cast<int32_t>(random_uniform_double(4, stream, i) * 3.0) % 3;
  return b;
}

TEST(CudaDelivery, DeviceBatchStepEqualsHostBatchStep) {
  KN_REQUIRE_GPU();
  const ModelSpec spec = parse_spec(kSpec, "delivery test");
  Model host(spec, options(Device::cuda, 16)), dev(spec, options(Device::cuda, 16));
  std::vector<HostBatch> batches;
  for (int k = 0; k < 7; ++k) batches.push_back(random_batch(k == 6 ? 5 : 16, static_cast<uint64_t>(k)));
  // The device model uploads batch k+1 before stepping on batch k: both slots in flight.
  DeviceBatch next = dev.device_staging().upload(batches[0].x(), batches[0].y());
  for (size_t k = 0; k < batches.size(); ++k) {
    const DeviceBatch current = next;
    if (k + 1 < batches.size()) next = dev.device_staging().upload(batches[k + 1].x(), batches[k + 1].y());
    const LossResult a = host.train_on_batch(batches[k].x(), batches[k].y());
    const LossResult b = dev.train_on_device_batch(current);
    EXPECT_EQ(a.loss, b.loss) << "step " << k;
    EXPECT_EQ(a.correct, b.correct) << "step " << k;
    EXPECT_EQ(a.count, b.count) << "step " << k;
  }
  std::vector<float> pa(static_cast<size_t>(host.trainable_count())), pb(pa.size());
  copy_to_host(host.flat_parameters(), pa.data());
  copy_to_host(dev.flat_parameters(), pb.data());
  EXPECT_EQ(0, std::memcmp(pa.data(), pb.data(), pa.size() * sizeof(float)));

  const DeviceBatch e = dev.device_staging().upload(batches[2].x(), batches[2].y());
  const LossResult ea = host.evaluate_on_batch(batches[2].x(), batches[2].y());
  const LossResult eb = dev.evaluate_on_device_batch(e);
  EXPECT_EQ(ea.loss, eb.loss);
  EXPECT_EQ(ea.correct, eb.correct);
}

// The trainer's pipeline: step k+1 submitted (its batch uploaded) before step k is collected.
// The losses and the final parameters must equal the host-batch steps' bit for bit.
TEST(CudaDelivery, PipelinedStepsEqualStepsOneAtATime) {
  KN_REQUIRE_GPU();
  const ModelSpec spec = parse_spec(kSpec, "delivery test");
  Model host(spec, options(Device::cuda, 16)), dev(spec, options(Device::cuda, 16));
  std::vector<HostBatch> batches;
  for (int k = 0; k < 7; ++k) batches.push_back(random_batch(k == 6 ? 9 : 16, 100 + static_cast<uint64_t>(k)));
  std::vector<LossResult> want, got;
  for (auto& b : batches) want.push_back(host.train_on_batch(b.x(), b.y()));
  for (size_t k = 0; k < batches.size(); ++k) {
    dev.submit_train_step(dev.device_staging().upload(batches[k].x(), batches[k].y()));
    if (dev.steps_in_flight() == 2) got.push_back(dev.collect_step());
  }
  got.push_back(dev.collect_step());
  EXPECT_EQ(dev.steps_in_flight(), 0);
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(want[k].loss, got[k].loss) << "step " << k;
    EXPECT_EQ(want[k].correct, got[k].correct) << "step " << k;
    EXPECT_EQ(want[k].count, got[k].count) << "step " << k;
  }
  std::vector<float> pa(static_cast<size_t>(host.trainable_count())), pb(pa.size());
  copy_to_host(host.flat_parameters(), pa.data());
  copy_to_host(dev.flat_parameters(), pb.data());
  EXPECT_EQ(0, std::memcmp(pa.data(), pb.data(), pa.size() * sizeof(float)));
}

TEST(CudaDelivery, StepsInFlightAreBoundedAndBlockOtherCalls) {
  KN_REQUIRE_GPU();
  const ModelSpec spec = parse_spec(kSpec, "delivery test");
  Model m(spec, options(Device::cuda, 16));
  HostBatch hb = random_batch(16, 21);
  EXPECT_THROW(m.collect_step(), Error);
  m.submit_train_step(m.device_staging().upload(hb.x(), hb.y()));
  EXPECT_THROW(m.train_on_batch(hb.x(), hb.y()), Error);
  EXPECT_THROW(m.evaluate_on_batch(hb.x(), hb.y()), Error);
  m.submit_train_step(m.device_staging().upload(hb.x(), hb.y()));
  EXPECT_THROW(m.submit_train_step(m.device_staging().upload(hb.x(), hb.y())), Error) << "a third step in flight";
  EXPECT_EQ(m.steps_in_flight(), 2);
  m.collect_step();
  m.collect_step();
  EXPECT_NO_THROW(m.evaluate_on_batch(hb.x(), hb.y()));
}

// An upload into a staging slot must wait until the compute stream has converted the batch the
// slot held. Here the step on batch A is only queued when C's upload overwrites A's slot. On the
// emulator, the waits run other streams' work first, so C's copy would run before A's conversion
// every time, unless the copy stream waits.
TEST(CudaDelivery, AnUploadWaitsForTheStepReadingTheSlotItOverwrites) {
  KN_REQUIRE_GPU();
#ifdef KNOTNET_CUDA_EMU
  const test::ScopedEnv order("KNOTNET_EMU_WAIT_ORDER", "others-first");
#endif
  const ModelSpec spec = parse_spec(kSpec, "delivery test");
  for (int round = 0; round < 6; ++round) {
    Model host(spec, options(Device::cuda, 16)), dev(spec, options(Device::cuda, 16));
    HostBatch a = random_batch(16, 30 + 3 * static_cast<uint64_t>(round));
    HostBatch b = random_batch(16, 31 + 3 * static_cast<uint64_t>(round));
    HostBatch c = random_batch(16, 32 + 3 * static_cast<uint64_t>(round));
    const LossResult want = host.train_on_batch(a.x(), a.y());
    dev.submit_train_step(dev.device_staging().upload(a.x(), a.y()));
    dev.device_staging().upload(b.x(), b.y());
    dev.device_staging().upload(c.x(), c.y());  // into A's slot
    const LossResult got = dev.collect_step();
    ASSERT_EQ(want.loss, got.loss) << "round " << round << ": the step read another batch's bytes";
    ASSERT_EQ(want.correct, got.correct) << "round " << round;
  }
}

// BatchDelivery's contract (io/batch_reader.h): once reclaim(slot) returns, the copy out of the
// host slot has run, so the reader may refill it.
TEST(CudaDelivery, ReclaimWaitsForTheCopyOutOfTheHostSlot) {
  KN_REQUIRE_GPU();
  Model model(parse_spec(kSpec, "delivery test"), options(Device::cuda, 16));
  CudaBatchDelivery delivery(model.device_staging());
  HostBuffer images(pinned_host_allocator(), 16 * 192), labels(pinned_host_allocator(), 16 * sizeof(int32_t));
  const HostBatch want = random_batch(16, 40);
  std::memcpy(images.data(), want.images.data(), want.images.size());
  std::memcpy(labels.data(), want.labels.data(), want.labels.size() * sizeof(int32_t));
  Batch batch;
  batch.size = 16;
  batch.images = Tensor(images.data(), Shape{16, 8, 8, 3}, DType::u8);
  batch.labels = Tensor(labels.data(), Shape{16}, DType::i32);
  batch.slot = 0;
  delivery.deliver(batch);
  delivery.reclaim(0);
  std::memset(images.data(), 0xAB, images.size());  // the reader refilling the slot
  std::memset(labels.data(), 0, labels.size());
  KN_CUDA_CHECK(cudaStreamSynchronize(CudaContext::get().copy()));
  EXPECT_EQ(device_bytes(batch.device_images), want.images);
  const auto lab = device_bytes(batch.device_labels);
  EXPECT_EQ(0, std::memcmp(lab.data(), want.labels.data(), lab.size()));
}

TEST(CudaDelivery, StaleOrForeignDeviceBatchIsRefused) {
  KN_REQUIRE_GPU();
  const ModelSpec spec = parse_spec(kSpec, "delivery test");
  Model a(spec, options(Device::cuda, 16)), b(spec, options(Device::cuda, 16));
  HostBatch hb = random_batch(16, 11);
  const DeviceBatch first = a.device_staging().upload(hb.x(), hb.y());
  a.device_staging().upload(hb.x(), hb.y());
  const DeviceBatch third = a.device_staging().upload(hb.x(), hb.y());  // overwrites first's slot
  EXPECT_THROW(a.train_on_device_batch(first), Error);
  EXPECT_THROW(b.train_on_device_batch(third), Error);  // another model's slot
  EXPECT_NO_THROW(a.train_on_device_batch(third));
  HostBatch bad = random_batch(4, 12);
  bad.labels[1] = 3;
  EXPECT_THROW(a.device_staging().upload(bad.x(), bad.y()), Error);
}

#endif  // KNOTNET_HAVE_CUDA

}  // namespace
}  // namespace knotnet
