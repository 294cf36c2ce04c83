// The training loop: epochs of train_on_batch over a BatchSource, validation at each epoch's
// end, callbacks (engine/callbacks.h) that may change the learning rate or stop training, and
// an observer for progress display. A non-finite loss stops training at once with an error
// naming the epoch and step; nothing is written by the trainer itself, so checkpoints written
// by callbacks before that point stay intact.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/batch_source.h"
#include "engine/model.h"

namespace knotnet {

struct EpochLog {
  int64_t epoch = 0;  // 1-based, as people count
  double loss = 0, accuracy = 0;
  bool has_validation = false;
  double val_loss = 0, val_accuracy = 0;
  double lr = 0;
  double images_per_second = 0;
  double seconds = 0;
};

struct Evaluation {
  int64_t classes = 0;
  int64_t count = 0;
  int64_t correct = 0;
  double loss = 0;                 // mean over all samples
  std::vector<int64_t> confusion;  // (classes, classes): row = true class, column = predicted
  double accuracy() const { return count ? double(correct) / double(count) : 0.0; }
};

// Loss, accuracy and confusion matrix of `model` over one pass of `source` (epoch 0's order).
Evaluation evaluate(Model& model, BatchSource& source);

class Callback;

// What the trainer reports after each batch.
struct BatchProgress {
  int64_t epoch = 0;  // 1-based
  int64_t step = 0;   // within the epoch, 1-based
  int64_t steps = 0;  // steps per epoch
  LossResult batch;   // this batch's own loss and correct count
  double loss = 0, accuracy = 0;  // running means over the epoch so far
  double images_per_second = 0;   // over the epoch so far
};

class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void on_batch(const BatchProgress& p) {}
  virtual void on_epoch_end(const EpochLog& log) {}
};

// Thrown when a step's loss is NaN or infinite. On the GPU the trainer reads step k's loss after
// it has queued step k+1, so by then the model has taken one more update than the message's
// "update N" (and it is no use: training stops, and nothing is saved after it).
class NonFiniteLoss : public Error {
 public:
  using Error::Error;
};

struct FitOptions {
  int64_t epochs = 10;
  int64_t initial_epoch = 0;  // epochs already completed (resume)
  // At most this many updates per epoch (0: the whole source), as Keras's steps_per_epoch; each
  // epoch still starts a new order of its own, so a resumed run sees the same batches.
  int64_t steps_per_epoch = 0;
};

class Trainer {
 public:
  Trainer(Model& model, BatchSource& train, BatchSource* validation) : model_(model), train_(train), val_(validation) {}
  void add_callback(Callback* c) { callbacks_.push_back(c); }
  void set_observer(TrainObserver* o) { observer_ = o; }
  // Runs epochs initial_epoch+1 .. epochs (or fewer, when a callback stops training).
  std::vector<EpochLog> fit(const FitOptions& options);
  bool stopped_early() const { return stopped_early_; }

 private:
  Model& model_;
  BatchSource& train_;
  BatchSource* val_;
  std::vector<Callback*> callbacks_;
  TrainObserver* observer_ = nullptr;
  bool stopped_early_ = false;
};

}  // namespace knotnet
