// The plan of a comparison: tuning runs per row, then its seeds at the chosen lr; what is left and how big it is.
#include "experiments/plan.h"

#include <cmath>

#include "optimizers/named.h"
#include "tasks/lr_choice.h"

namespace nos::experiments {

RunKey key_of(const std::string& rule, int64_t epochs, double lr, uint64_t seed) { return {rule, epochs, lr, seed}; }

namespace {
std::string rule_key_of(const std::string& rule, const std::string& canonical) {
  return canonical.rfind(optimizers::kLstmRulePrefix, 0) == 0 ? rule + " " + canonical : rule;
}
}  // namespace

std::string rule_key(const CompareRow& row) { return rule_key_of(row.rule, row.canonical); }
std::string rule_key(const tasks::EvalRecord& record) { return rule_key_of(record.rule, record.canonical); }

RunKey key_of(const std::vector<CompareRow>& rows, const PlannedRun& run) {
  return key_of(rule_key(rows[run.row]), run.epochs, run.lr, run.seed);
}

RowTuning row_tuning(const CompareConfig& config, const CompareRow& row, const FinishedRuns& finished) {
  std::vector<tasks::LrTrial> trials;
  for (double lr : config.lr_grid) {
    auto found = finished.find(key_of(rule_key(row), config.tune_epochs, lr, config.tune_seed));
    if (found == finished.end()) return {false, std::nan("")};
    trials.push_back({lr, found->second.status, found->second.val_acc});
  }
  return {true, tasks::choose_lr(trials)};
}

std::vector<PlannedRun> known_runs(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                   const FinishedRuns& finished) {
  const bool shared = tuning_run_is_final(config);
  std::vector<PlannedRun> runs;
  for (size_t i = 0; i < rows.size(); ++i) {
    for (double lr : config.lr_grid) runs.push_back({"tune", i, config.tune_epochs, lr, config.tune_seed});
    const RowTuning tuning = row_tuning(config, rows[i], finished);
    if (!tuning.complete || std::isnan(tuning.lr)) continue;
    for (uint64_t seed : final_seeds(config)) {
      if (shared && seed == config.tune_seed) continue;  // the tuning run at this lr
      runs.push_back({"final", i, config.epochs, tuning.lr, seed});
    }
  }
  return runs;
}

std::vector<PlannedRun> runs_to_do(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                   const FinishedRuns& finished) {
  std::vector<PlannedRun> to_do;
  for (const PlannedRun& run : known_runs(config, rows, finished)) {
    if (!finished.count(key_of(rows, run))) to_do.push_back(run);
  }
  return to_do;
}

RunCount planned_total(const CompareConfig& config, const std::vector<CompareRow>& rows) {
  const bool shared_seed0 = tuning_run_is_final(config);
  const int64_t n = static_cast<int64_t>(rows.size());
  const int64_t grid = static_cast<int64_t>(config.lr_grid.size());
  RunCount total;
  total.runs = n * (grid + config.seeds - (shared_seed0 ? 1 : 0));
  total.epochs = n * (grid * config.tune_epochs + config.seeds * config.epochs - (shared_seed0 ? config.epochs : 0));
  return total;
}

RunCount finished_count(const CompareConfig& config, const std::vector<CompareRow>& rows,
                        const FinishedRuns& finished) {
  RunCount count;
  for (const PlannedRun& run : known_runs(config, rows, finished)) {
    if (!finished.count(key_of(rows, run))) continue;
    ++count.runs;
    count.epochs += run.epochs;
  }
  return count;
}

RunCount dropped_count(const CompareConfig& config, const std::vector<CompareRow>& rows,
                       const FinishedRuns& finished) {
  const int64_t seeds = config.seeds - (tuning_run_is_final(config) ? 1 : 0);
  RunCount count;
  for (const CompareRow& row : rows) {
    const RowTuning tuning = row_tuning(config, row, finished);
    if (!tuning.complete) break;
    if (!std::isnan(tuning.lr)) continue;
    count.runs += seeds;
    count.epochs += seeds * config.epochs;
  }
  return count;
}

}  // namespace nos::experiments
