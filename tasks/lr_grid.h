// Internal to tasks/: the trainer's lr searches over the grid: the paper's full grid and successive halving.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tasks/child_run.h"

namespace nos::tasks::training {

// What an lr search hands to the full run: the chosen lr and its run, and where the hurdle point left it.
struct LrSearch {
  double lr = kNaN;            // NaN: every lr diverged (or the search timed out, or the run is hurdled)
  ChildRun run;                // the chosen lr's run, to be continued (empty when none)
  double hurdle_acc = kNaN;    // the best validation accuracy at the hurdle point
  int64_t hurdle_steps = 0;    // steps each lr had trained at the hurdle point
  bool hurdled = false;        // hurdle_acc is below config.hurdle: stop (lr is the best lr at the hurdle point)
  std::string timeout;         // the message of a trial that timed out
};

// The steps each lr trains in successive halving: one entry per rung (a target in steps), with the number of lrs
// that train to it when none diverges.
std::vector<std::pair<int64_t, size_t>> halving_rungs(size_t lrs, int64_t trial_steps);

// The paper's protocol: every lr trains one trial from the same initialisation; the best validation accuracy wins.
// The hurdle point is after the last trial.
LrSearch full_grid(const optimizers::ResolvedRule& rule, const DeviceData& d, int64_t classes,
                   const TrainConfig& config, int64_t total_steps, int64_t trial_steps, std::vector<GridTrial>& grid,
                   Job& job);

// Successive halving over the grid (see TrainConfig::lr_search). The hurdle point is after the first rung: the best
// accuracy there decides, before any lr trains further.
LrSearch halving_grid(const optimizers::ResolvedRule& rule, const DeviceData& d, int64_t classes,
                      const TrainConfig& config, int64_t total_steps, int64_t trial_steps,
                      std::vector<GridTrial>& grid, Job& job);

}  // namespace nos::tasks::training
