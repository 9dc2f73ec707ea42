// Internal to tasks/: one child's training run as the trainer (trainer.cpp) and its lr searches (lr_grid.cpp) drive
// it: the child (model, optimizer, batch order), how far its run got, and the epoch loop that advances it.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "optimizers/optimizers.h"
#include "tasks/child_policy.h"
#include "tasks/device_data.h"
#include "tasks/models.h"
#include "tasks/trainer.h"

namespace nos::tasks::training {

// Where one run (a grid trial or the full run) stands relative to the whole job, for progress and ETA.
struct Job {
  Clock::time_point start;
  int64_t steps_total = 0;  // every step of every trial and of the full run
  int64_t steps_done = 0;
  double deadline_seconds = 0;
  TrainProgressCallback progress;
  bool timed_out() const { return deadline_seconds > 0 && seconds_since(start) > deadline_seconds; }
  double eta() const {
    if (steps_done == 0) return kNaN;
    return seconds_since(start) / static_cast<double>(steps_done) * static_cast<double>(steps_total - steps_done);
  }
};

struct RunOutcome {
  Status status = Status::kOk;
  std::string message;
  int64_t steps_done = 0;
  double last_train_loss = kNaN;
  std::vector<EpochMetrics> epochs;
};

// The wall seconds of a child's training steps, phase by phase (profile_child): each phase ends with a device
// synchronisation when the run is on a GPU, so the split is the work's, not the launch's.
struct StepTimes {
  double gather = 0;    // the batch's images gathered, normalised (and augmented)
  double forward = 0;   // forward pass and loss
  double backward = 0;  // gradients
  double update = 0;    // zero_grad before, clipping, schedule and the rule's step after
};

// One freshly initialised child: model, optimizer and batch-order generator, and its training step. Kept apart from
// the epoch loop so the benchmark times exactly this step.
class Child {
 public:
  Child(const optimizers::ResolvedRule& rule, const DeviceData& d, int64_t classes, const TrainConfig& config,
        double lr, int64_t total_steps)
      : d_(d),
        config_(config),
        model_(initialised_model(d, classes, config)),
        data_gen_(at::make_generator<at::CPUGeneratorImpl>(mix_seed(config.seed, 2))) {
    if (d.memory_format == torch::MemoryFormat::ChannelsLast) {
      torch::NoGradGuard no_grad;
      for (torch::Tensor& p : model_->parameters()) {
        if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
      }
    }
    model_->train();
    optimizer_ = std::make_unique<RunOptimizer>(rule, *model_, config, lr, total_steps,
                                                steps_per_epoch(d.train_images.size(0), config.batch_size));
  }

  // A fresh random order of the training set for one epoch.
  torch::Tensor epoch_order() {
    return torch::randperm(d_.train_images.size(0), data_gen_, torch::TensorOptions().dtype(torch::kInt64))
        .to(config_.device);
  }

  // One optimizer step on the images at `index`; returns the batch loss (on the device, not read back). `times`,
  // when given, gets each phase's wall time added.
  torch::Tensor step(const torch::Tensor& index, StepTimes* times = nullptr) {
    Clock::time_point mark = times != nullptr ? Clock::now() : Clock::time_point{};
    torch::Tensor images = d_.normalise(d_.train_images.index_select(0, index));
    if (config_.augment) images = augment_batch(images, data_gen_);
    if (times != nullptr) times->gather += lap(mark);
    torch::Tensor logits;
    {
      AutocastScope autocast(d_.bfloat16_autocast, d_.device);
      logits = model_->forward(images);
    }
    // The loss in the run's dtype (float32 under autocast, whose logits are bfloat16).
    torch::Tensor loss =
        torch::nn::functional::cross_entropy(logits.to(d_.dtype), d_.train_labels.index_select(0, index));
    if (times != nullptr) times->forward += lap(mark);
    optimizer_->optimizer->zero_grad();
    if (times != nullptr) times->update += lap(mark);
    loss.backward();
    if (times != nullptr) times->backward += lap(mark);
    optimizer_->step(model_->parameters(), config_.recipe, step_++);
    if (times != nullptr) times->update += lap(mark);
    return loss.detach();
  }

  ClassifierImpl& model() { return *model_; }

 private:
  double lap(Clock::time_point& mark) const { return tasks::lap(mark, d_.device); }

  const DeviceData& d_;
  const TrainConfig& config_;
  Classifier model_;
  at::Generator data_gen_;
  std::unique_ptr<RunOptimizer> optimizer_;
  int64_t step_ = 0;  // steps taken
};

// A child and how far its training got: what a grid trial hands to the full run it is the start of. A run can be
// paused inside an epoch (a halving rung) and continued: the epoch's batch order and loss sum are kept here, so a
// paused and continued run is bit for bit one that never paused.
struct ChildRun {
  std::unique_ptr<Child> child;
  double lr = 0;
  int64_t total_steps = 0;   // T of the run (for its decays and schedule)
  int64_t budget = 0;        // the steps it trains at most: its last epoch ends here (<= total_steps)
  RunOutcome outcome;
  torch::Tensor first_loss;  // the loss of the very first batch: the yardstick of a blow-up
  LossGuard guard;           // divergence: its bound is read from first_loss when first needed
  double last_val = -1;      // the last validation accuracy, for progress
  // The epoch under way: its batch order, the steps done in it, its loss sum and what was last reported of it.
  torch::Tensor order;
  int64_t epoch_pos = 0;
  torch::Tensor loss_sum;
  double reported_sum = 0;
  int64_t reported_steps = 0;
  Clock::time_point epoch_start;
};

// The batch size of evaluations: config.eval_batch_size, or the training batch size when that is 0.
inline int64_t evaluation_batch(const TrainConfig& config) {
  return config.eval_batch_size > 0 ? config.eval_batch_size : config.batch_size;
}

// Trains run.child on until it has done `target` steps (T stays what the child was built with), evaluating after
// every epoch; stops early on divergence or timeout, with the status in run.outcome. A target inside an epoch pauses
// the run there (its mean loss so far is checked, nothing is evaluated); a later call continues the epoch.
void advance(ChildRun& run, const DeviceData& d, const TrainConfig& config, int64_t target, bool measure_test,
             const std::string& phase, Job& job);

// The validation accuracy where the run stands: its last epoch's, or measured now (on the first
// rung_validation_size validation images) when it is paused in an epoch.
double current_val_acc(ChildRun& run, const DeviceData& d, const TrainConfig& config);

// A fresh child at `lr` (T = total_steps) whose run trains config's budget, or total_steps if fewer.
ChildRun fresh_run(const optimizers::ResolvedRule& rule, const DeviceData& d, int64_t classes,
                   const TrainConfig& config, double lr, int64_t total_steps);

}  // namespace nos::tasks::training
