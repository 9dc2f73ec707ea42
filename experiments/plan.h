// The plan of a comparison: which runs it holds, which are still to do given the finished ones, and its size.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "experiments/compare_config.h"
#include "experiments/rows.h"
#include "tasks/evaluator.h"

namespace nos::experiments {

// The identity of a run: rule, budget in epochs, lr, seed. A tuning run at the chosen lr with seed 0 is the same run
// as the first seed when tune_epochs == epochs, and is then used once for both.
using RunKey = std::tuple<std::string, int64_t, double, uint64_t>;
RunKey key_of(const std::string& rule, int64_t epochs, double lr, uint64_t seed);

// The rule part of a run's key: the rule as given, and for a learned optimizer ("lstm:PATH", canonical "lstm:HASH")
// its file's hash too, so that a network replaced in the same file is another rule, never a finished run.
std::string rule_key(const CompareRow& row);
std::string rule_key(const tasks::EvalRecord& record);

// The finished runs' records by key.
using FinishedRuns = std::map<RunKey, tasks::EvalRecord>;

// One run of the plan.
struct PlannedRun {
  std::string phase;  // "tune" (seed 0, one lr of the grid) or "final" (one seed at the chosen lr)
  size_t row = 0;     // index into the rows
  int64_t epochs = 0;
  double lr = 0;
  uint64_t seed = 0;
};
RunKey key_of(const std::vector<CompareRow>& rows, const PlannedRun& run);

// Where one row's tuning stands.
struct RowTuning {
  bool complete = false;  // every lr of the grid has finished
  double lr = 0;          // tasks::choose_lr over the grid; NaN when incomplete or every lr diverged
};
RowTuning row_tuning(const CompareConfig& config, const CompareRow& row, const FinishedRuns& finished);

// Every run whose inputs are known, finished or not, in order: for each row its tuning runs, then — once its tuning
// is complete and an lr was chosen — its seeds at that lr (seed 0 left out when tune_epochs == epochs: the tuning run
// at the chosen lr is that seed).
std::vector<PlannedRun> known_runs(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                   const FinishedRuns& finished);

// The runs still to do: the known runs that have not finished. A pure function of its arguments; run_compare
// calls it again after every finished run, as finished tuning makes seeds known.
std::vector<PlannedRun> runs_to_do(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                   const FinishedRuns& finished);

// A count of runs and of the epochs they train (the ETA's unit).
struct RunCount {
  int64_t runs = 0;
  int64_t epochs = 0;
};

// The whole comparison: rows × (lrs + seeds), less one seed per row when the tuning run at the chosen lr is seed 0.
RunCount planned_total(const CompareConfig& config, const std::vector<CompareRow>& rows);

// The known runs that have finished.
RunCount finished_count(const CompareConfig& config, const std::vector<CompareRow>& rows,
                        const FinishedRuns& finished);

// The seeds of rows whose every lr diverged: planned but never run, so progress counts them as done. Counts rows in
// order and stops at the first whose tuning is not complete.
RunCount dropped_count(const CompareConfig& config, const std::vector<CompareRow>& rows,
                       const FinishedRuns& finished);

}  // namespace nos::experiments
