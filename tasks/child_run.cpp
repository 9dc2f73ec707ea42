// One child's training run: the epoch loop (steps, loss checks, progress, time limit, evaluation after each epoch)
// that the trainer and its lr searches advance, pausing and continuing it.
#include "tasks/child_run.h"

#include <algorithm>

#include "common/error.h"
#include "tasks/datasets.h"

namespace nos::tasks::training {

namespace {

// Stops the run: its status and the message saying why.
void stop_run(RunOutcome& outcome, Status status, const std::string& message) {
  outcome.status = status;
  outcome.message = message;
}

// Judges a mean loss read back: false (and status set) when it shows divergence.
bool run_loss_ok(ChildRun& run, double mean_loss, int64_t step) {
  if (!run.guard.has_bound()) run.guard.set_first_loss(run.first_loss.item<double>());
  const std::string diverged = run.guard.judge(mean_loss, step);
  if (diverged.empty()) return true;
  stop_run(run.outcome, Status::kDiverged, diverged);
  return false;
}

// Trains the epoch under way up to its step `stop_at`, batches of `batch` images in the epoch's order. Every
// config.check_every steps the mean loss since the last check is judged, progress is reported and the time limit is
// checked; divergence or a timeout stops the run there.
void train_steps(ChildRun& run, const TrainConfig& config, int64_t batch, int64_t stop_at, const std::string& phase,
                 int64_t epoch, int64_t epochs, Job& job) {
  RunOutcome& outcome = run.outcome;
  while (run.epoch_pos < stop_at) {
    const int64_t s = run.epoch_pos;
    torch::Tensor loss = run.child->step(run.order.narrow(0, s * batch, batch));
    run.loss_sum.add_(loss);
    if (!run.first_loss.defined()) run.first_loss = loss.clone();
    ++run.epoch_pos;
    ++outcome.steps_done;
    ++job.steps_done;
    if ((s + 1) % config.check_every == 0 && s + 1 < stop_at) {
      const double sum = run.loss_sum.item<double>();
      const double window = (sum - run.reported_sum) / static_cast<double>(s + 1 - run.reported_steps);
      run.reported_sum = sum;
      run.reported_steps = s + 1;
      if (!run_loss_ok(run, window, outcome.steps_done)) return;
      if (job.progress) {
        job.progress({phase, run.lr, epoch, epochs, outcome.steps_done, run.budget, window, run.last_val,
                      seconds_since(job.start), job.eta()});
      }
      if (job.timed_out()) {
        stop_run(outcome, Status::kTimeout, time_limit_message(job.deadline_seconds,
                                                          "at step " + std::to_string(outcome.steps_done), false));
        return;
      }
    }
  }
}

// Evaluates the run at the end of epoch `epoch` (validation accuracy; test accuracy when asked, after every epoch
// or the last) and records the epoch; true when it was the run's last.
bool record_epoch(ChildRun& run, const DeviceData& d, const TrainConfig& config, int64_t epoch, double mean_loss,
                  bool measure_test) {
  const int64_t eval_batch = evaluation_batch(config);
  RunOutcome& outcome = run.outcome;
  EpochMetrics m;
  m.epoch = epoch;
  m.steps = outcome.steps_done;
  m.train_loss = mean_loss;
  m.lr = run.lr;
  m.val_acc = accuracy(run.child->model(), d, d.val_images, d.val_labels, eval_batch);
  const bool last = outcome.steps_done == run.budget;
  m.test_acc = measure_test && config.measure_test && (config.test_every_epoch || last)
                   ? accuracy(run.child->model(), d, d.test_images, d.test_labels, eval_batch)
                   : kNaN;
  m.seconds = seconds_since(run.epoch_start);
  run.last_val = m.val_acc;
  outcome.epochs.push_back(m);
  return last;
}

}  // namespace

void advance(ChildRun& run, const DeviceData& d, const TrainConfig& config, int64_t target, bool measure_test,
             const std::string& phase, Job& job) {
  RunOutcome& outcome = run.outcome;
  Child& child = *run.child;
  const int64_t n = d.train_images.size(0);
  const int64_t per_epoch = steps_per_epoch(n, config.batch_size);
  const int64_t batch = std::min(config.batch_size, n);
  // Progress counts the whole run (its budget), not this call's target: a run is advanced in parts.
  const int64_t epochs = (run.budget + per_epoch - 1) / per_epoch;
  const auto acc_options = torch::TensorOptions().dtype(torch::kFloat64).device(config.device);

  while (outcome.status == Status::kOk && outcome.steps_done < target) {
    const int64_t epoch = outcome.steps_done / per_epoch + 1;
    // This epoch ends after a whole epoch or at the end of the run.
    const int64_t epoch_steps = std::min(per_epoch, run.budget - (epoch - 1) * per_epoch);
    if (run.epoch_pos == 0) {
      run.epoch_start = Clock::now();
      run.order = child.epoch_order();
      run.loss_sum = torch::zeros({}, acc_options);
      run.reported_sum = 0;
      run.reported_steps = 0;
    }
    const int64_t stop_at = std::min(epoch_steps, run.epoch_pos + (target - outcome.steps_done));
    train_steps(run, config, batch, stop_at, phase, epoch, epochs, job);
    if (outcome.status != Status::kOk) break;
    if (run.epoch_pos < epoch_steps) {
      // Paused inside the epoch.
      const double mean_loss = run.loss_sum.item<double>() / static_cast<double>(run.epoch_pos);
      outcome.last_train_loss = mean_loss;
      run_loss_ok(run, mean_loss, outcome.steps_done);
      break;
    }
    run.epoch_pos = 0;
    const double mean_loss = run.loss_sum.item<double>() / static_cast<double>(epoch_steps);
    outcome.last_train_loss = mean_loss;
    if (!run_loss_ok(run, mean_loss, outcome.steps_done)) break;
    const bool last = record_epoch(run, d, config, epoch, mean_loss, measure_test);
    if (job.progress) {
      job.progress({phase, run.lr, epoch, epochs, outcome.steps_done, run.budget, mean_loss, run.last_val,
                    seconds_since(job.start), job.eta(), true});
    }
    if (!last && job.timed_out()) {
      stop_run(outcome, Status::kTimeout,
               time_limit_message(job.deadline_seconds, "after epoch " + std::to_string(epoch), false));
    }
  }
}

double current_val_acc(ChildRun& run, const DeviceData& d, const TrainConfig& config) {
  const RunOutcome& o = run.outcome;
  if (!o.epochs.empty() && o.epochs.back().steps == o.steps_done) return o.epochs.back().val_acc;
  const int64_t eval_batch = evaluation_batch(config);
  const int64_t n = d.val_images.size(0);
  const int64_t k = config.rung_validation_size > 0 ? std::min(n, config.rung_validation_size) : n;
  run.last_val = accuracy(run.child->model(), d, d.val_images.narrow(0, 0, k), d.val_labels.narrow(0, 0, k),
                          eval_batch);
  return run.last_val;
}

ChildRun fresh_run(const optimizers::ResolvedRule& rule, const DeviceData& d, int64_t classes,
                   const TrainConfig& config, double lr, int64_t total_steps) {
  ChildRun run;
  run.child = std::make_unique<Child>(rule, d, classes, config, lr, total_steps);
  run.lr = lr;
  run.total_steps = total_steps;
  const int64_t per_epoch = steps_per_epoch(d.train_images.size(0), config.batch_size);
  run.budget = std::min(total_steps, config.steps > 0 ? config.steps : config.epochs * per_epoch);
  return run;
}

}  // namespace nos::tasks::training
