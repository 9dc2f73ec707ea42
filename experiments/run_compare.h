// run_compare: a comparison run into its report folder — resumed from the journal, scheduled on a worker pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "experiments/compare_config.h"
#include "experiments/progress.h"
#include "experiments/report.h"
#include "experiments/rows.h"
#include "dispatch/pool.h"

namespace nos::experiments {

struct CompareRuntime {
  dispatch::EvaluatorPool* pool = nullptr;  // evaluates the runs: worker processes (the CLI) or threads (tests)
  ReportContext context;
  const std::atomic<bool>* stop = nullptr;  // set (e.g. by SIGINT) to stop: finished runs stay in the journal
  std::function<void(const CompareProgress&)> on_progress;
};

struct CompareResult {
  bool interrupted = false;
  int64_t total = 0;        // runs of the whole comparison
  int64_t skipped = 0;      // taken from the journal
  int64_t executed = 0;     // evaluated in this session
  int64_t failed = 0;       // crashed or timed out in a worker (not journaled: a rerun retries them)
  std::vector<std::string> failed_runs;  // each of those, "ROW lr X" or "ROW seed N: STATUS (MESSAGE)"
  double seconds = 0;       // wall time of this session
  std::vector<RowSummary> summary;
  std::vector<std::string> notes;  // e.g. "gnuplot not found: no plots"
  std::string verdicts;            // "against adam (…): better: …; worse: …; no difference shown: N" or ""
};

// Runs the comparison into config.out: checks (or writes) DIR/config.yaml, reads the journal DIR/runs.jsonl and
// skips every run in it, runs the rest on runtime.pool — tuning runs first, each row's seeds as soon as its tuning
// is complete (runs_to_do) — appending each finished run to the journal (flushed) as it arrives, then writes the
// report files. A different config in a folder that has one is a UserError naming the keys that differ; so is a run
// the evaluator refuses (missing data, unavailable device). Interrupted (runtime.stop), it writes the report of what
// is finished and returns interrupted.
CompareResult run_compare(const CompareConfig& config, const std::vector<CompareRow>& rows,
                          const CompareRuntime& runtime);

}  // namespace nos::experiments
