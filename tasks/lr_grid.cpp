// The trainer's lr searches: every lr of the grid trains a trial (the paper's protocol), or successive halving.
#include "tasks/lr_grid.h"

#include <algorithm>
#include <cmath>

#include "tasks/lr_choice.h"

namespace nos::tasks::training {

std::vector<std::pair<int64_t, size_t>> halving_rungs(size_t lrs, int64_t trial_steps) {
  std::vector<std::pair<int64_t, size_t>> rungs;
  double fraction = kHalvingFirstRung;
  size_t alive = lrs;
  while (true) {
    const auto target = std::min<int64_t>(
        trial_steps, std::max<int64_t>(1, static_cast<int64_t>(std::ceil(fraction * static_cast<double>(trial_steps)))));
    if (rungs.empty() || target > rungs.back().first) rungs.emplace_back(target, alive);
    // Two or fewer left: this rung picks the winner.
    if (alive <= 2 || target == trial_steps) break;
    alive = (alive + 1) / 2;
    fraction *= 2;
  }
  return rungs;
}

LrSearch full_grid(const optimizers::ResolvedRule& rule, const DeviceData& d, int64_t classes,
                   const TrainConfig& config, int64_t total_steps, int64_t trial_steps, std::vector<GridTrial>& grid,
                   Job& job) {
  LrSearch out;
  std::vector<LrTrial> trials;
  for (size_t i = 0; i < config.lr_grid.size(); ++i) {
    const double trial_lr = config.lr_grid[i];
    const Clock::time_point trial_start = Clock::now();
    const std::string phase = "lr grid " + std::to_string(i + 1) + "/" + std::to_string(config.lr_grid.size());
    ChildRun run = fresh_run(rule, d, classes, config, trial_lr, total_steps);
    advance(run, d, config, trial_steps, /*measure_test=*/false, phase, job);
    GridTrial trial;
    trial.lr = trial_lr;
    trial.status = run.outcome.status;
    trial.steps = run.outcome.steps_done;
    trial.train_loss = run.outcome.last_train_loss;
    trial.val_acc = run.outcome.status == Status::kOk && !run.outcome.epochs.empty() ? run.outcome.epochs.back().val_acc : 0.0;
    trial.seconds = seconds_since(trial_start);
    grid.push_back(trial);
    // Skipped trial steps (a diverged trial) no longer count towards the ETA.
    job.steps_total -= trial_steps - run.outcome.steps_done;
    if (run.outcome.status == Status::kTimeout) {
      out.lr = choose_lr(trials);
      out.timeout = run.outcome.message;
      return out;
    }
    // The choice over the trials so far is the earlier best or this trial: keep the run only when it is this one.
    trials.push_back({trial_lr, trial.status, trial.val_acc});
    out.lr = choose_lr(trials);
    if (out.lr == trial_lr) out.run = std::move(run);
  }
  if (!std::isnan(out.lr)) {
    out.hurdle_acc = out.run.outcome.epochs.back().val_acc;
    out.hurdle_steps = trial_steps;
  }
  return out;
}

LrSearch halving_grid(const optimizers::ResolvedRule& rule, const DeviceData& d, int64_t classes,
                      const TrainConfig& config, int64_t total_steps, int64_t trial_steps,
                      std::vector<GridTrial>& grid, Job& job) {
  LrSearch out;
  const size_t n = config.lr_grid.size();
  std::vector<ChildRun> runs(n);
  grid.assign(n, GridTrial{});
  std::vector<size_t> alive(n);
  for (size_t i = 0; i < n; ++i) {
    alive[i] = i;
    grid[i].lr = config.lr_grid[i];
  }
  const std::vector<std::pair<int64_t, size_t>> rungs = halving_rungs(n, trial_steps);
  for (size_t r = 0; r < rungs.size(); ++r) {
    const int64_t target = rungs[r].first;
    for (size_t k = 0; k < alive.size(); ++k) {
      const size_t i = alive[k];
      const Clock::time_point start = Clock::now();
      if (!runs[i].child) runs[i] = fresh_run(rule, d, classes, config, config.lr_grid[i], total_steps);
      ChildRun& run = runs[i];
      const int64_t before = run.outcome.steps_done;
      advance(run, d, config, target, /*measure_test=*/false,
              "lr halving " + std::to_string(r + 1) + "/" + std::to_string(rungs.size()) + " lr " +
                  std::to_string(k + 1) + "/" + std::to_string(alive.size()),
              job);
      GridTrial& trial = grid[i];
      trial.status = run.outcome.status;
      trial.steps = run.outcome.steps_done;
      trial.train_loss = run.outcome.last_train_loss;
      trial.val_acc = run.outcome.status == Status::kOk ? current_val_acc(run, d, config) : 0.0;
      trial.seconds += seconds_since(start);
      job.steps_total -= (target - before) - (run.outcome.steps_done - before);
      if (run.outcome.status == Status::kTimeout) {
        out.timeout = run.outcome.message;
        return out;
      }
    }
    // The lrs still fine, best first (an exact tie: the smaller lr, as choose_lr).
    std::vector<size_t> ranked;
    for (size_t i : alive) {
      if (grid[i].status == Status::kOk && std::isfinite(grid[i].val_acc)) ranked.push_back(i);
    }
    std::sort(ranked.begin(), ranked.end(), [&](size_t a, size_t b) {
      if (grid[a].val_acc != grid[b].val_acc) return grid[a].val_acc > grid[b].val_acc;
      return grid[a].lr < grid[b].lr;
    });
    if (ranked.empty()) return out;  // every lr diverged
    if (r == 0) {
      out.hurdle_acc = grid[ranked.front()].val_acc;
      out.hurdle_steps = target;
      if (out.hurdle_acc < config.hurdle) {
        out.hurdled = true;
        out.lr = grid[ranked.front()].lr;
        return out;
      }
    }
    const bool last = ranked.size() == 1 || r + 1 == rungs.size();
    const size_t keep = last ? 1 : (ranked.size() + 1) / 2;
    for (size_t k = keep; k < ranked.size(); ++k) {
      grid[ranked[k]].status = Status::kHalved;
      runs[ranked[k]] = ChildRun();
    }
    alive.assign(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep));
    if (last) break;
  }
  out.lr = grid[alive.front()].lr;
  out.run = std::move(runs[alive.front()]);
  return out;
}

}  // namespace nos::tasks::training
