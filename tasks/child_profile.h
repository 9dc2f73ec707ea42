// Where a child's time goes: one epoch of a training run timed phase by phase (`nos bench profile`).
#pragma once

#include <cstdint>
#include <vector>

#include "optimizers/optimizers.h"
#include "tasks/datasets.h"
#include "tasks/trainer.h"

namespace nos::tasks {

// One evaluation pass timed: `images` images at batch size `batch`.
struct EvaluationTime {
  int64_t batch = 0;
  int64_t images = 0;
  double seconds = 0;
};

// The split of one epoch of a child (wall seconds). The phases of the training steps end with a device
// synchronisation on a GPU (which slows a GPU run slightly); on the CPU they are what a run spends.
struct ChildProfile {
  int64_t steps = 0;            // training steps timed (one epoch)
  int64_t batch = 0;
  double to_device = 0;         // the splits moved to the run's device (once per run)
  double setup = 0;             // model built and initialised, optimizer made (once per run)
  double gather = 0;            // batches gathered, normalised (and augmented)
  double forward = 0;           // forward passes and losses
  double backward = 0;          // gradients
  double update = 0;            // zero_grad, clipping, schedule, the rule's step
  double other = 0;             // the epoch loop's own work: batch order, loss sums
  // The validation and test passes at the run's evaluation batch size, each timed after an untimed pass (a run pays
  // the first pass's set-up once, and every later epoch the warm pass).
  EvaluationTime validation;
  EvaluationTime test;
  // The validation pass again at each of the extra batch sizes asked for (for choosing eval_batch_size).
  std::vector<EvaluationTime> validation_at;
  double epoch = 0;             // training steps, loop and both evaluations: one epoch of a run
};

// Profiles one epoch of config.model trained with `rule` at config.lr (> 0) on `data`, as train_classifier runs it
// (same step, same evaluation), then times the validation pass at each of `extra_eval_batches`. Throws UserError
// for a configuration a run cannot take.
ChildProfile profile_child(const optimizers::ResolvedRule& rule, const DataSplits& data, const TrainConfig& config,
                           const std::vector<int64_t>& extra_eval_batches = {});

}  // namespace nos::tasks
