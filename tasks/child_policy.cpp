#include "tasks/child_policy.h"

#include <algorithm>
#include <cmath>

#include "tasks/device_data.h"

namespace nos::tasks {

void LossGuard::set_first_loss(double first_loss) { bound_ = kLossBlowup * std::max(1.0, first_loss); }

std::string LossGuard::judge(double mean_loss, int64_t step) const {
  if (std::isfinite(mean_loss) && mean_loss <= bound_) return "";
  return "training loss " + number_text(mean_loss) + " at step " + std::to_string(step) +
         (std::isfinite(mean_loss) ? " (above " + number_text(bound_) + ")" : "");
}

bool stops_at_hurdle(const TrainConfig& config, double hurdle_acc, int64_t steps_done, int64_t total_steps) {
  return steps_done < total_steps && hurdle_acc < config.hurdle;
}

std::string hurdle_point(bool grid, bool halving, int64_t steps) {
  if (!grid) return "after the first epoch";
  return "after " + std::to_string(steps) + " steps" + (halving ? " at each lr" : "");
}

std::string hurdle_message(const TrainConfig& config, double hurdle_acc, const std::string& where) {
  return "validation accuracy " + number_text(hurdle_acc) + " " + where + " is below the hurdle " +
         number_text(config.hurdle);
}

std::string time_limit_message(double seconds, const std::string& where, bool population) {
  return std::string(population ? "the population's time limit of " : "time limit of ") + number_text(seconds) +
         " s reached " + where;
}

GridFailure grid_failure(const std::string& timeout_message) {
  if (timeout_message.empty()) return {Status::kDiverged, "every lr of the grid diverged"};
  return {Status::kTimeout, "lr grid: " + timeout_message};
}

double reward_of(Status status, double val_acc, double hurdle_acc) {
  if (status == Status::kOk) return val_acc;
  if (status == Status::kHurdle) return hurdle_acc;
  return 0.0;
}

}  // namespace nos::tasks
