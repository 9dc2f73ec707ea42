// choose_lr: the best validation score wins, an exact tie goes to the smaller lr.
#include "tasks/lr_choice.h"

#include <cmath>
#include <limits>

namespace nos::tasks {

double choose_lr(const std::vector<LrTrial>& trials) {
  double best_lr = std::numeric_limits<double>::quiet_NaN();
  double best_score = 0;
  for (const LrTrial& t : trials) {
    if (t.status != Status::kOk || !std::isfinite(t.score)) continue;
    if (std::isnan(best_lr) || t.score > best_score || (t.score == best_score && t.lr < best_lr)) {
      best_score = t.score;
      best_lr = t.lr;
    }
  }
  return best_lr;
}

}  // namespace nos::tasks
