// train_knots predict: class probabilities of every image of a file under a checkpoint, in file
// order, as CSV (row, predicted, one column per class) or HDF5 (/probabilities (N, K) float32,
// /predicted (N) int32), chosen by the output's extension.
#include <hdf5.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "apps/train_knots/command.h"
#include "apps/train_knots/data_sources.h"
#include "apps/train_knots/device_options.h"
#include "apps/train_knots/run_outputs.h"
#include "engine/cuda_context.h"
#include "io/checkpoint.h"
#include "io/h5_check.h"

namespace knotnet::app {
namespace {

struct PredictFlags {
  std::string conv_algo = "measured";
  std::string checkpoint, out, device = "auto";
  DataFlags data;
  int64_t batch = 128;
};

void write_h5(const std::string& path, const std::vector<float>& probs, const std::vector<int32_t>& predicted,
              int64_t k) {
  quiet_hdf5_errors();
  std::string tmp = path + ".tmp";
  hid_t f = H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  KN_CHECK(f >= 0, "cannot create ", tmp);
  hsize_t dims[2] = {predicted.size(), static_cast<hsize_t>(k)};
  hid_t s2 = H5Screate_simple(2, dims, nullptr), s1 = H5Screate_simple(1, dims, nullptr);
  hid_t dp = H5Dcreate2(f, "probabilities", H5T_IEEE_F32LE, s2, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hid_t dc = H5Dcreate2(f, "predicted", H5T_STD_I32LE, s1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  bool ok = dp >= 0 && dc >= 0 && H5Dwrite(dp, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, probs.data()) >= 0 &&
            H5Dwrite(dc, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, predicted.data()) >= 0;
  H5Dclose(dp);
  H5Dclose(dc);
  H5Sclose(s1);
  H5Sclose(s2);
  H5Fclose(f);
  KN_CHECK(ok, "failed writing predictions to ", tmp, ": ", hdf5_error_message());
  std::filesystem::rename(tmp, path);
}

std::function<int()> setup(CLI::App& sub) {
  auto f = std::make_shared<PredictFlags>();
  sub.add_option("--checkpoint", f->checkpoint, "checkpoint (best.h5 or last.h5 of a run)")->required();
  add_data_options(sub, f->data, true);
  sub.add_option("--out", f->out, "output: FILE.csv or FILE.h5")->required();
  // The reader validates a labels dataset in every file; predict reads it for that only.
  sub.add_option("--batch", f->batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  sub.add_option("--device", f->device, "auto, cpu or cuda")->capture_default_str();
  add_conv_algo_option(sub, f->conv_algo);
  return [f]() {
    std::string ext = std::filesystem::path(f->out).extension().string();
    KN_CHECK(ext == ".csv" || ext == ".h5" || ext == ".hdf5", "--out ", f->out, ": expected a .csv or .h5 file name");
    auto model = model_from_checkpoint(f->checkpoint, f->batch, resolve_device(f->device),
                                       parse_conv_search(f->conv_algo));
    DatasetOptions dopt = dataset_options(f->data);
    dopt.classes = static_cast<int>(model->classes());  // a file may lack the last class
    ImageDataset data(f->data.path, dopt);
    check_data_fits_model(data, *model);
    const int64_t k = model->classes(), n_all = data.size();
    ReaderOptions ropt;
    ropt.batch = f->batch;
    ropt.shuffle = ShuffleMode::none;
    BatchReader reader(data, rows_for_part(data, "all", "70,15,15", 0), ropt);
    std::vector<float> probs(static_cast<size_t>(n_all * k));
    std::vector<float> batch_probs(static_cast<size_t>(f->batch * k));
    std::vector<double> batch_probs64(static_cast<size_t>(f->batch * k));
    std::vector<int32_t> predicted(static_cast<size_t>(n_all));
    reader.start_epoch(0);
    Batch b;
    while (reader.next(b)) {
      const bool f64 = model->options().dtype == DType::f64;
      Tensor out = f64 ? Tensor(batch_probs64.data(), Shape{b.size, k}, DType::f64)
                       : Tensor(batch_probs.data(), Shape{b.size, k}, DType::f32);
      model->predict_on_batch(b.images, out);
      for (int64_t i = 0; i < b.size; ++i) {
        const int64_t row = b.rows[i];
        int32_t best = 0;
        for (int64_t j = 0; j < k; ++j) {
          float p = f64 ? static_cast<float>(batch_probs64[static_cast<size_t>(i * k + j)])
                        : batch_probs[static_cast<size_t>(i * k + j)];
          probs[static_cast<size_t>(row * k + j)] = p;
          if (p > probs[static_cast<size_t>(row * k + best)]) best = static_cast<int32_t>(j);
        }
        predicted[static_cast<size_t>(row)] = best;
      }
    }
    if (ext == ".csv") {
      auto names = class_names(data.info());
      std::string text = "row,predicted";
      for (const auto& name : names) text += ",p_" + name;
      text += "\n";
      char cell[32];
      for (int64_t r = 0; r < n_all; ++r) {
        text += std::to_string(r) + "," + names[static_cast<size_t>(predicted[static_cast<size_t>(r)])];
        for (int64_t j = 0; j < k; ++j) {
          std::snprintf(cell, sizeof cell, ",%.6g", static_cast<double>(probs[static_cast<size_t>(r * k + j)]));
          text += cell;
        }
        text += "\n";
      }
      write_file_atomically(f->out, text);
    } else {
      write_h5(f->out, probs, predicted, k);
    }
    std::fprintf(stderr, "wrote predictions for %lld images to %s\n", static_cast<long long>(n_all), f->out.c_str());
    return 0;
  };
}

}  // namespace

KN_REGISTER_COMMAND(predict, "predict", "per-image class probabilities of a checkpoint, to CSV or HDF5", setup);

}  // namespace knotnet::app
