// train_knots's view of a data file: the validated dataset, its seeded stratified split, and a
// BatchSource (engine/batch_source.h) over any part of it, backed by the background BatchReader.
// Given a CUDA model, the reader's ring is page-locked and every batch is copied to the model's
// device staging on the copy stream as it is handed out (delivery/), so the trainer steps with
// Model::train_on_device_batch; otherwise batches stay on the host.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "delivery/cuda_batch_delivery.h"
#include "delivery/pinned_host_allocator.h"
#include "engine/batch_source.h"
#include "engine/model.h"
#include "io/batch_reader.h"
#include "io/h5_dataset.h"
#include "io/split.h"

namespace knotnet::app {

class ReaderSource : public BatchSource {
 public:
  // `device_model`: a CUDA model (allocated) to deliver batches to; nullptr, or a CPU model, for
  // host batches. The model must outlive this source.
  ReaderSource(const ImageDataset& data, std::vector<int64_t> rows, const ReaderOptions& options,
               Model* device_model = nullptr)
      : rows_(static_cast<int64_t>(rows.size())),
        delivery_(device_model && device_model->options().device == Device::cuda
                      ? std::make_unique<CudaBatchDelivery>(device_model->device_staging())
                      : nullptr),
        reader_(data, std::move(rows), with_delivery(options, delivery_.get())) {}
  int64_t samples() const override { return reader_.plan().samples ? reader_.plan().samples : rows_; }
  void begin_epoch(int64_t epoch) override { reader_.start_epoch(epoch); }
  bool next(Tensor& images, Tensor& labels) override {
    if (!reader_.next(batch_)) return false;
    images = batch_.images;
    labels = batch_.labels;
    return true;
  }
  const DeviceBatch* device_batch() const override { return delivery_ ? &delivery_->last() : nullptr; }
  BatchReader& reader() { return reader_; }

 private:
  static ReaderOptions with_delivery(ReaderOptions o, CudaBatchDelivery* delivery) {
    if (delivery) {
      o.allocator = &pinned_host_allocator();
      o.delivery = delivery;
    }
    return o;
  }
  int64_t rows_;
  std::unique_ptr<CudaBatchDelivery> delivery_;  // declared before reader_: outlives it
  BatchReader reader_;
  Batch batch_;
};

// The flags every subcommand that reads a data file shares.
struct DataFlags {
  std::string path;
  std::string image_shape;  // "H,W,C" for flat images whose shape the file does not say
  std::string data_dataset = "train_data";
  std::string label_dataset = "train_label";
};
// Adds --data (required when `required`), --image-shape, --data-name, --label-name.
void add_data_options(CLI::App& sub, DataFlags& f, bool required);
DatasetOptions dataset_options(const DataFlags& f);
// Throws naming the file when its images or classes do not fit the model.
void check_data_fits_model(const ImageDataset& data, const Model& model);

// The rows of one part of the file's split ("all", "train", "validation", "test"), computed as
// fit computes them (same fractions and seed give the same rows).
std::vector<int64_t> rows_for_part(const ImageDataset& data, const std::string& part, const std::string& split,
                                   uint64_t seed);

// The class names of a file, or "class 0", "class 1", ... when it names none.
std::vector<std::string> class_names(const DatasetInfo& info);

}  // namespace knotnet::app
