// What a training run leaves in its output directory besides checkpoints:
//   history.csv   one row per epoch: epoch, loss, acc, val_loss, val_acc, lr, images_per_s, seconds
//   history.png   loss and accuracy curves, train against validation, drawn by gnuplot from the
//                 CSV (a one-line notice, and no picture, where gnuplot is missing)
//   summary.json  final metrics, best epoch, test confusion matrix, speed, memory, versions
// Files are written to a temporary name and renamed, so a crash leaves the previous version.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/trainer.h"

namespace knotnet::app {

void write_history_csv(const std::string& path, const std::vector<EpochLog>& history);
// Returns false (after printing a notice to stderr once) when gnuplot is not available.
bool plot_history(const std::string& csv_path, const std::string& png_path, const std::string& title);
void write_json(const std::string& path, const nlohmann::json& j);
// Replaces `path` with `text` atomically (temporary file, then rename).
void write_file_atomically(const std::string& path, const std::string& text);

nlohmann::json epoch_json(const EpochLog& e);
EpochLog epoch_from_json(const nlohmann::json& j);

}  // namespace knotnet::app
