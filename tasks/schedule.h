// Learning-rate schedules: the factor that multiplies the peak lr at each step of a run (issue 19). PyTorch's
// torch.optim.lr_scheduler semantics for step, exponential, cosine (SGDR) and linear warm-up; TensorFlow's formulas
// for the two schedules Bello et al. found (linear-cosine and noisy linear-cosine decay).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nos::tasks {

// One schedule. The step t is the number of updates before this one (0 for the first), as TensorFlow counts it; a
// length below 1 is a fraction of the run's steps, 1 or more a count of steps (epochs with per_epoch).
struct Schedule {
  std::string name = "constant";  // constant, step, exponential, cosine, linear_cosine, noisy_linear_cosine
  // Linear warm-up, applied together with the schedule (their factors multiply, as PyTorch's ChainedScheduler of a
  // LinearLR and the schedule): warmup_start + (1 − warmup_start)·min(t, W)/W over the first W steps.
  double warmup = 0;
  double warmup_start = 0;
  bool per_epoch = false;  // step, exponential and cosine advance once per epoch instead of once per step
  double step_size = 0;    // step: the decay's interval (required)
  double gamma = -1;       // step: 0.1 when not given; exponential: required (the factor per step or epoch)
  double t0 = 0;           // cosine: the first period (0: the whole run)
  double t_mult = 1;       // cosine: each period this many times the one before (a whole number >= 1)
  double eta_min = 0;      // cosine: the floor, a fraction of the peak lr
  // linear_cosine and noisy_linear_cosine (TensorFlow's defaults), over the whole run.
  double num_periods = 0.5;
  double alpha = 0;
  double beta = 0.001;
  double initial_variance = 1;  // noisy: eps_t ~ N(0, initial_variance / (1 + t)^variance_decay) added to linear
  double variance_decay = 0.55;
};

const std::vector<std::string>& schedule_names();

// "NAME" or "NAME,KEY=VALUE,...", e.g. "cosine,warmup=0.05,t_mult=2,eta_min=0.01" (the --schedule syntax); keys
// are the Schedule fields. An unknown name or key, a bad number or a key the schedule does not take is a UserError
// naming it (`where` names the flag or config key).
Schedule parse_schedule(const std::string& text, const std::string& where = "--schedule");

// The schedule as parse_schedule reads it: its name, then every key that differs from its default, in field order.
std::string schedule_text(const Schedule& schedule);

// Checks the schedule against a run of total_steps steps (steps_per_epoch each epoch): negative or out-of-range
// values, a warm-up, step interval or first period longer than the run, t_mult not a whole number >= 1. UserError
// naming `where` and the key.
void check_schedule(const Schedule& schedule, int64_t total_steps, int64_t steps_per_epoch,
                    const std::string& where = "--schedule");

// The factor of each step 0 … total_steps − 1 (check_schedule first). The noisy schedule draws its noise from a
// generator seeded with `seed`, one normal deviate per step in order, so a seed gives the same factors.
std::vector<double> schedule_factors(const Schedule& schedule, int64_t total_steps, int64_t steps_per_epoch,
                                     uint64_t seed = 0);

}  // namespace nos::tasks
