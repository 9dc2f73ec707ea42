// Funnel selection after a search (the search config's `funnel:` list): the search's best rules through ever larger
// stages, each a comparison against a baseline (run_compare, so each stage is tuned, seeded and resumable as
// `nos compare` is), a gate measured in seed standard deviations, and the passers' top-k on to the next stage.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "experiments/compare_config.h"
#include "experiments/progress.h"
#include "experiments/report.h"
#include "search/config.h"
#include "dispatch/pool.h"
#include "search/store.h"

namespace nos::experiments {

struct FunnelRuntime {
  // The pool that runs one stage's comparison (worker processes in the CLI, threads in tests).
  std::function<std::unique_ptr<dispatch::EvaluatorPool>(const CompareConfig&)> make_pool;
  ReportContext context;
  const std::atomic<bool>* stop = nullptr;  // set (e.g. by SIGINT) to stop: finished runs stay in the journals
  std::function<void(const CompareProgress&)> on_progress;
  std::function<void(const std::string&)> on_stage;  // a line as each stage starts and ends
};

struct FunnelResult {
  bool interrupted = false;
  int64_t failed = 0;    // runs that crashed in a worker: the funnel stops at that stage (a rerun retries them)
  int64_t executed = 0;  // runs trained in this session
  int64_t skipped = 0;   // runs taken from the stages' journals
  std::vector<search::FunnelRow> rows;  // every stage finished so far, as stored
  std::vector<std::string> notes;
};

// The folder of stage `index`: RUN_DIR/funnel/NAME (NAME: the stage's name, or stage-N counted from 1).
std::string funnel_stage_name(const search::SearchConfig& config, size_t index);
std::string funnel_stage_dir(const std::string& run_dir, const search::SearchConfig& config, size_t index);

// The comparison stage `index` runs (rules left empty): its task settings, the search task's device, dtype, data and
// cache folders where the stage names none, protocol tune → its lr grid and tune_epochs, fixed → the one lr for
// the whole budget (the tuning run is seed 0), the search's workers as jobs, no native reference rows.
CompareConfig funnel_compare_config(const search::SearchConfig& config, size_t index, const std::string& run_dir);

// The stored rows of one finished stage from its comparison's summaries (`baseline` null for baseline: none):
// candidates ranked by mean final validation accuracy (no ok seed: last), each passing when it has an ok seed and
// (with a baseline that has one) its mean exceeds threshold = baseline mean + margin·√((sd² + sd_baseline²)/2) (a
// single seed's sd counts 0); the first `next_top_k` passers are promoted; the baseline's row comes last.
std::vector<search::FunnelRow> gate_stage(const search::SearchConfig& config, size_t index,
                                          const std::vector<RowSummary>& candidates, const RowSummary* baseline,
                                          int next_top_k);

// Runs the funnel of config (non-empty) for the finished search in run_dir: stage 0 takes the top_k best distinct
// rules with status ok from the run's store (one equal to the baseline is left out: the baseline row is it), each
// stage runs as run_compare into its folder (resumed from its journal; a changed stage config is a UserError naming
// the keys) and its rows go to the store (Store::put_funnel_stage), replacing what an earlier session wrote. A stage
// no rule enters is noted and ends the funnel. Interrupted or with crashed runs, it returns at that stage: rerunning
// (nos search --resume) trains only what is missing.
FunnelResult run_funnel(const search::SearchConfig& config, const std::string& run_dir, const FunnelRuntime& runtime);

}  // namespace nos::experiments
