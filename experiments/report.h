// The report of a comparison: statistics over seeds, each row's summary, and the files results.csv, tuning.csv,
// summary.csv, report.md and plots/.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "experiments/compare_config.h"
#include "experiments/journal.h"
#include "experiments/rows.h"

namespace nos::experiments {

// Mean, sample standard deviation (n − 1; NaN for n < 2), min and max of finite values (NaN when there are none).
struct Stat {
  int n = 0;
  double mean = std::numeric_limits<double>::quiet_NaN();
  double std = std::numeric_limits<double>::quiet_NaN();
  double min = std::numeric_limits<double>::quiet_NaN();
  double max = std::numeric_limits<double>::quiet_NaN();
};
Stat stat_of(const std::vector<double>& values);

// What the report says about one row.
struct RowSummary {
  CompareRow row;
  double lr = std::numeric_limits<double>::quiet_NaN();  // chosen; NaN when tuning is incomplete or all diverged
  std::string tuning;          // "chosen", "every lr diverged", "tuning incomplete"
  int seeds_planned = 0;
  int seeds_done = 0;          // finished runs (any status)
  int seeds_ok = 0;
  // Over the seeds with status ok (a diverged seed is counted in `statuses`, not averaged):
  Stat final_val, best_val, final_test, best_test, final_train_loss;
  double seconds_per_epoch = std::numeric_limits<double>::quiet_NaN();  // mean over every epoch of every seed
  std::string statuses;        // "3 ok", "2 ok, 1 diverged", "1 ok, 2 missing"
};

// The facts about the machine and the build that the report records (machine.h gathers them).
struct ReportContext {
  std::string command;       // the command line
  std::string machine;       // CPU model
  int cores = 0;
  std::string nos_version;
  std::string git_commit;    // empty when unknown
  std::string libtorch_version;
  std::string gnuplot;       // the gnuplot executable; empty: not installed (the CSVs are still written)
};

// The data of one row, taken from the finished runs: what the report files are written from.
struct RowData {
  std::vector<std::pair<double, const tasks::EvalRecord*>> tuning;  // per lr of the grid (nullptr: not run yet)
  double lr = std::numeric_limits<double>::quiet_NaN();
  std::string tuning_state;  // "chosen", "every lr diverged", "tuning incomplete"
  std::vector<std::pair<uint64_t, const tasks::EvalRecord*>> seeds;  // per seed (nullptr: not run yet)
};
RowData row_data(const CompareConfig& config, const CompareRow& row, const FinishedRuns& finished);
RowSummary summarize(const CompareConfig& config, const CompareRow& row, const RowData& data);

// The report of a folder's finished runs: results.csv, tuning.csv, summary.csv, report.md, plots/ and the PNGs
// (when context.gnuplot is set). Called by run_compare; public for tests. `session_seconds` is recorded as the
// wall time. Returns the rows' summaries and notes.
struct ReportFiles {
  std::vector<RowSummary> summary;
  std::vector<std::string> notes;
  std::string verdicts;  // the paired comparison with the baseline in one line (paired.h's verdict_line)
};
ReportFiles write_compare_report(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                 const std::vector<CompareRun>& journal, const ReportContext& context,
                                 double session_seconds);

}  // namespace nos::experiments
