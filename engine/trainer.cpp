#include "engine/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "engine/callbacks.h"
#include "engine/device_copy.h"
#include "engine/device_staging.h"

namespace knotnet {

Evaluation evaluate(Model& model, BatchSource& source) {
  Evaluation ev;
  ev.classes = model.classes();
  ev.confusion.assign(static_cast<size_t>(ev.classes * ev.classes), 0);
  double loss_sum = 0;
  source.begin_epoch(0);
  Tensor images, labels;
  while (source.next(images, labels)) {
    const int64_t n = labels.shape[0];
    const DeviceBatch* db = source.device_batch();
    LossResult r = db ? model.evaluate_on_device_batch(*db) : model.evaluate_on_batch(images, labels);
    loss_sum += r.loss * double(n);
    ev.correct += r.correct;
    ev.count += n;
    // Predictions from the probabilities the forward pass left in the model (device memory on
    // the GPU: read through a host copy).
    dispatch_float(model.options().dtype, [&](auto zero) {
      using T = decltype(zero);
      std::vector<T> host(static_cast<size_t>(n * ev.classes));
      copy_to_host(model.probabilities().first(n), host.data());
      const T* p = host.data();
      const int32_t* y = labels.as<int32_t>();
      for (int64_t i = 0; i < n; ++i) {
        int64_t best = 0;
        for (int64_t k = 1; k < ev.classes; ++k)
          if (p[i * ev.classes + k] > p[i * ev.classes + best]) best = k;
        ev.confusion[static_cast<size_t>(y[i] * ev.classes + best)]++;
      }
    });
  }
  ev.loss = ev.count ? loss_sum / double(ev.count) : 0.0;
  return ev;
}

std::vector<EpochLog> Trainer::fit(const FitOptions& options) {
  // Whatever ends training early (a non-finite loss, a reader's error), no step stays in flight.
  // collect_step() forgets its step before it waits, so a failing one does not stop the drain.
  struct Drain {
    Model& model;
    ~Drain() {
      while (model.steps_in_flight() > 0) {
        try {
          model.collect_step();
        } catch (...) {  // the error already on its way out says more
        }
      }
    }
  } drain{model_};
  std::vector<EpochLog> history;
  stopped_early_ = false;
  const int64_t samples = train_.samples();
  int64_t steps = (samples + model_.batch() - 1) / model_.batch();
  if (options.steps_per_epoch > 0) steps = std::min(steps, options.steps_per_epoch);
  for (int64_t epoch = options.initial_epoch; epoch < options.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    train_.begin_epoch(epoch);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0, step = 0;
    // One step's result: counted, checked, shown.
    auto account = [&](const LossResult& r) {
      const int64_t n = r.count;
      ++step;
      if (!std::isfinite(r.loss))
        throw NonFiniteLoss(detail::concat("the loss became ", r.loss, " at epoch ", epoch + 1, ", step ", step,
                                           " (update ", model_.step_count() - model_.steps_in_flight(),
                                           "); training stopped. Try a lower --lr; the last checkpoint is intact."),
                            __FILE__, __LINE__);
      loss_sum += r.loss * double(n);
      correct += r.correct;
      seen += n;
      if (observer_) {
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        observer_->on_batch({epoch + 1, step, steps, r, loss_sum / double(seen), double(correct) / double(seen),
                             secs > 0 ? double(seen) / secs : 0.0});
      }
    };
    // Device batches are pipelined: step k+1 is submitted (its batch fetched and uploaded while
    // step k runs on the GPU) before step k's loss is collected, so the GPU always has the next
    // step queued and never waits for the host. Host batches step one at a time.
    int64_t taken = 0;  // batches taken from the source this epoch
    bool exhausted = false;
    Tensor images, labels;
    while (!exhausted || model_.steps_in_flight() > 0) {
      exhausted = exhausted || (options.steps_per_epoch > 0 && taken >= steps) || !train_.next(images, labels);
      if (!exhausted) {
        ++taken;
        if (const DeviceBatch* db = train_.device_batch())
          model_.submit_train_step(*db);
        else
          account(model_.train_on_batch(images, labels));
      }
      if (model_.steps_in_flight() == Model::kMaxStepsInFlight || (exhausted && model_.steps_in_flight() > 0))
        account(model_.collect_step());
    }
    KN_CHECK(seen > 0, "the training data yielded no batch in epoch ", epoch + 1);
    EpochLog log;
    log.epoch = epoch + 1;
    log.loss = loss_sum / double(seen);
    log.accuracy = double(correct) / double(seen);
    log.lr = model_.optimizer().lr();
    log.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log.images_per_second = double(seen) / log.seconds;
    if (val_) {
      Evaluation ev = evaluate(model_, *val_);
      log.has_validation = true;
      log.val_loss = ev.loss;
      log.val_accuracy = ev.accuracy();
    }
    history.push_back(log);
    if (observer_) observer_->on_epoch_end(log);
    bool stop = false;
    for (Callback* c : callbacks_) c->on_epoch_end(log, model_, stop);
    if (stop) {
      stopped_early_ = true;
      break;
    }
  }
  for (Callback* c : callbacks_) c->on_train_end(model_, stopped_early_);
  return history;
}

}  // namespace knotnet
