// One run of a rule on an analytic objective: the optimizer loop, with divergence reported as a result.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "optimizers/optimizers.h"
#include "tasks/objectives.h"
#include "tasks/status.h"

namespace nos::tasks {

// The budget and numerics of one run. Plain data: the CLI fills it from flags and config, tests construct it.
struct ObjectiveRunConfig {
  int64_t steps = 1000;                  // optimizer steps (≥ 1); also the rule's T for decays
  double lr = 1e-3;                      // learning rate (> 0, finite)
  torch::Dtype dtype = torch::kFloat64;  // float32 or float64
  uint64_t seed = 0;                     // the optimizer's random generator (noise, drop)
  torch::Device device = torch::kCPU;
};

struct ObjectiveResult {
  Status status = Status::kOk;  // or kDiverged when the loss became non-finite or exploded
  int64_t steps_done = 0;  // optimizer steps applied (fewer than asked when diverged)
  double initial_loss = 0.0;
  double final_loss = 0.0;  // the loss at the last point reached (may be inf or NaN when diverged)
  std::vector<double> final_point;
  double distance_to_optimum = 0.0;  // Euclidean
  double seconds = 0.0;              // wall time of the whole run
};

// The loss bound past which a run counts as diverged: kDivergenceFactor · max(1, |initial loss|).
inline constexpr double kDivergenceFactor = 1e30;

// Called with (step, loss, x) for step 0 (the start) and after each optimizer step; x must not be modified.
using StepCallback = std::function<void(int64_t step, double loss, const torch::Tensor& x)>;

// Minimises `objective` from its start with `rule` for `config.steps` steps: the optimizer gets lr = config.lr,
// total_steps = config.steps and seed = config.seed; its other options are the rule's defaults. A non-finite loss,
// or one above the divergence bound, stops the run early with status "diverged"; misbehaving rules never throw.
// Uses no global state: runs may proceed concurrently on different threads.
ObjectiveResult run_objective(const optimizers::ResolvedRule& rule, const Objective& objective,
                              const ObjectiveRunConfig& config, const StepCallback& on_step = {});

}  // namespace nos::tasks
