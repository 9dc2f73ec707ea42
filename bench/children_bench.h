// `nos bench children`: children-steps per second of a population of K children (tasks/population.h) against one
// child trained alone, in one run.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "optimizers/named.h"
#include "tasks/evaluator.h"
#include "tasks/trainer.h"

namespace nos::bench {

struct ChildrenBenchOptions {
  tasks::TaskSpec task;                  // a network task whose model has a stacked form
  optimizers::ResolvedRule rule;         // every child's rule (at lr)
  std::vector<int64_t> ks = {1, 2, 4, 8, 16, 32, 64};
  int64_t steps = 20;                    // timed steps per K, at least (raised until min_seconds is reached)
  int64_t warmup = 3;
  // Each figure (the solo child, each K) is timed over at least this long: a measurement that took less is repeated
  // with proportionally more steps, so that a handful of steps (timer resolution, one slow step) cannot make a ratio.
  double min_seconds = 0.5;
  int64_t batch = 128;
  double lr = 1e-3;
  torch::Device device = torch::kCPU;
  bool channels_last = true;             // as the trainer's default for convolutions
};

struct ChildrenBenchRow {
  int64_t k = 1;
  double children_steps_per_second = 0;  // K · steps / wall seconds
  double seconds = 0;                    // the timed wall seconds (>= min_seconds)
  int64_t steps = 0;                     // the timed steps
  double ratio = 0;                      // over the solo child (train_classifier's step)
};

struct ChildrenBenchResult {
  int threads = 1;
  double solo_steps_per_second = 0;      // one child, trained alone (measure_training_throughput)
  double solo_seconds = 0;               // its timed wall seconds (>= min_seconds)
  int64_t solo_steps = 0;
  std::vector<ChildrenBenchRow> rows;
};

// Measures the solo child, then each K, on synthetic data of the task's shape. A bad option (min_seconds not > 0,
// steps < 1) is a UserError.
ChildrenBenchResult run_children_bench(const ChildrenBenchOptions& options);

}  // namespace nos::bench
