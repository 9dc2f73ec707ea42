// What a child's training decides — divergence, the hurdle, the time limit, a failed lr grid, the reward — written
// once for the solo trainer (trainer.cpp) and the population (population.cpp), messages included: a population's
// child must get its solo run's record bit for bit.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "common/text.h"
#include "tasks/trainer.h"

namespace nos::tasks {

// Divergence: a mean training loss that is not finite, or above kLossBlowup · max(1, the first batch's loss).
class LossGuard {
 public:
  // The bound is fixed once, from the first batch's loss, when it is first needed (reading it syncs a device).
  bool has_bound() const { return !std::isnan(bound_); }
  void set_first_loss(double first_loss);
  // "" when `mean_loss` is fine, else the diverged message ("training loss X at step N (above B)").
  std::string judge(double mean_loss, int64_t step) const;

 private:
  double bound_ = kNaN;
};

// Whether a run stops at its hurdle point: its validation accuracy there is below config.hurdle and it has more to
// train (steps_done < total_steps).
bool stops_at_hurdle(const TrainConfig& config, double hurdle_acc, int64_t steps_done, int64_t total_steps);
// Where the hurdle point was: "after the first epoch" (a fixed lr), "after N steps" (a full grid's trial end), "after
// N steps at each lr" (successive halving's first rung).
std::string hurdle_point(bool grid, bool halving, int64_t steps);
// "validation accuracy A <where> is below the hurdle H".
std::string hurdle_message(const TrainConfig& config, double hurdle_acc, const std::string& where);

// "time limit of X s reached <where>", or for a population "the population's time limit of X s reached <where>".
std::string time_limit_message(double seconds, const std::string& where, bool population);

// A grid none of whose lrs can go on: status "timeout" with "lr grid: " and the first timed-out trial's message,
// or "diverged" ("every lr of the grid diverged") when none timed out.
struct GridFailure {
  Status status = Status::kDiverged;
  std::string message;
};
GridFailure grid_failure(const std::string& timeout_message);

// The reward of a finished run: its validation accuracy when "ok", its hurdle accuracy when "hurdle", else 0.
double reward_of(Status status, double val_acc, double hurdle_acc);

}  // namespace nos::tasks
