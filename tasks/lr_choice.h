// The learning-rate choice of every grid protocol: nos eval's and the search's lr grid, and nos compare's tuning.
#pragma once

#include <string>
#include <vector>

#include "tasks/status.h"

namespace nos::tasks {

// One lr of a grid and how it did.
struct LrTrial {
  double lr = 0;
  Status status = Status::kOk;  // only ok trials take part
  double score = 0;    // higher is better (validation accuracy, or an analytic task's reward); NaN: no score
};

// The lr of the best-scoring trial among those with status ok and a finite score; NaN when there is none (every lr
// diverged). An exact tie goes to the smaller lr. Why the smaller: the choice then depends on the set of lrs tried,
// not on the order a config lists them (a journal written from [0.1, 0.01] and one from [0.01, 0.1] agree), and of
// two steps that did equally well over the short tuning budget the smaller is the less likely to diverge over the
// full one. (The shipped grids are ascending, so this is also the earlier grid entry.)
double choose_lr(const std::vector<LrTrial>& trials);

}  // namespace nos::tasks
