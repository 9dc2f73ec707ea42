// `nos compare`: rules side by side on one task — lr tuned per rule on the validation split, then K seeds at the
// chosen lr — with a resumable journal and the report files (CSV, Markdown, gnuplot plots).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "search/pool.h"
#include "tasks/evaluator.h"

namespace nos::search {

// The settings of a comparison: plain data with documented defaults, read from YAML (parse_compare_config) or
// built by tests. Only `jobs` and `out` may change between the runs of one report folder.
struct CompareConfig {
  // Named rules ("adam"), native reference rows ("torch-adam"), DSL text ("exp(sign(g)*sign(m))*g"), or
  // "@RUN_DIR:topN": the N best distinct rules of a search run (its leaderboard, status ok).
  std::vector<std::string> rules;
  bool native_references = true;  // add LibTorch's own class after each named rule that has one (adam → torch-adam)
  std::string task = "fmnist-convnet";  // <dataset>-<model> (tasks::parse_task_name; analytic tasks are refused)
  int64_t epochs = 3;                   // the full budget of each seed
  int seeds = 3;                        // K seeds at the chosen lr: 0 … K−1
  std::vector<double> lr_grid = {1e-4, 1e-3, 1e-2, 1e-1, 1};  // tried with seed 0 for tune_epochs each
  int64_t tune_epochs = 1;              // the tuning budget of each lr (at most epochs)
  int64_t batch_size = 128;
  int64_t train_size = -1;              // -1: every training image not held out
  int64_t validation_size = -1;         // -1: the data set's default
  bool augment = false;
  std::string device = "cpu";
  std::string dtype;                    // float32 | float64; empty: float32
  std::string data_dir;                 // the data set's folder; empty: its default
  int threads = 1;                      // intra-op threads per run
  int jobs = 2;                         // runs in parallel (worker processes)
  std::string out;                      // the report folder (required)
};

// The keys of the YAML schema, in documentation order.
const std::vector<std::string>& compare_config_keys();

// Reads YAML text onto a default CompareConfig; unknown keys and bad values throw nos::UserError naming the source,
// line and key ("compare.yaml:3: key 'seeds': expected a whole number in [1, 1000], got 'x'").
CompareConfig parse_compare_config(const std::string& yaml_text, const std::string& source);
CompareConfig load_compare_config(const std::string& path);

// Checks the values (also run by parse_compare_config); `source` names the config or the flags in messages.
void validate(const CompareConfig& config, const std::string& source);

// The config as YAML, every key written (parse_compare_config(to_yaml(c)) == c). `with_runtime` false leaves out
// `jobs` and `out`, which do not change results: that text is what identifies a report folder's comparison.
std::string to_yaml(const CompareConfig& config, bool with_runtime = true);

// Splits a --rules value on its top-level commas: commas inside parentheses or quotes stay ("clip(g,0.001),adam"
// → ["clip(g,0.001)", "adam"]); surrounding spaces are trimmed; an empty item is a UserError.
std::vector<std::string> split_rule_list(const std::string& text);

// One row of the comparison: one rule, tuned and run with K seeds.
struct CompareRow {
  std::string label;      // how tables name it: the name, the DSL text as given, or a found rule's canonical text
  std::string rule;       // what the evaluator runs (a name or DSL text)
  std::string canonical;  // canonical text (a native row: its class and settings)
  std::string kind;       // "dsl" or "native"
  std::string origin;     // where it came from: "rules[2]", "@runs/x:top3 #1", "reference for adam"
};

// Expands config.rules into rows: @RUN_DIR:topN read from the run's store, native reference rows added after their
// twins (unless listed or switched off). Every rule is resolved first: bad rule text throws dsl::RuleError wrapped
// in a UserError naming the entry ("rules[3]" of `source`), with the rule's diagnostics; so do a missing run folder,
// a bad @ spec and the same rule listed twice.
std::vector<CompareRow> resolve_rows(const CompareConfig& config, const std::string& source);

// ---------------------------------------------------------------------------------------------------------------
// the protocol

// One tuning run's outcome, for choose_lr.
struct TuneOutcome {
  double lr = 0;
  std::string status;  // "ok", "diverged", ...
  double val_acc = 0;
};

// The lr with the best validation accuracy among runs with status ok; ties go to the smaller lr; NaN when none is ok
// (every lr diverged: the row gets no seeds).
double choose_lr(const std::vector<TuneOutcome>& runs);

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

// ---------------------------------------------------------------------------------------------------------------
// running

// Where the comparison stands; sent after every finished run (and once at the start).
struct CompareProgress {
  int64_t done = 0;           // runs finished, earlier sessions included
  int64_t total = 0;          // runs of the whole comparison
  int64_t skipped = 0;        // found in the journal at the start
  int64_t running = 0;
  double elapsed_seconds = 0;  // this session
  double eta_seconds = 0;      // 0 when unknown
  std::string last;            // the run just finished ("adam seed 1: val 0.9012")
};

// The facts about the machine and the build that the report records; the CLI gathers them (the library reads
// no environment).
struct ReportContext {
  std::string command;       // the command line
  std::string machine;       // CPU model
  int cores = 0;
  std::string nos_version;
  std::string git_commit;    // empty when unknown
  std::string libtorch_version;
  std::string gnuplot;       // the gnuplot executable; empty: not installed (the CSVs are still written)
};

struct CompareRuntime {
  EvaluatorPool* pool = nullptr;  // evaluates the runs: worker processes (the CLI) or threads (tests)
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
  double seconds = 0;       // wall time of this session
  std::vector<RowSummary> summary;
  std::vector<std::string> notes;  // e.g. "gnuplot not found: no plots"
};

// The files of a report folder.
inline constexpr const char* kCompareJournal = "runs.jsonl";
inline constexpr const char* kCompareConfig = "config.yaml";
inline constexpr const char* kCompareSessions = "sessions.csv";

// Runs the comparison into config.out: checks (or writes) DIR/config.yaml, reads the journal DIR/runs.jsonl and
// skips every run in it, runs the rest on runtime.pool — tuning runs first, each row's seeds as soon as its tuning
// is complete — appending each finished run to the journal (flushed) as it arrives, then writes the report files.
// A different config in a folder that has one is a UserError naming the keys that differ; so is a run the
// evaluator refuses (missing data, unavailable device). Interrupted (runtime.stop), it writes the report of what
// is finished and returns interrupted.
CompareResult run_compare(const CompareConfig& config, const std::vector<CompareRow>& rows,
                          const CompareRuntime& runtime);

// One finished run as the journal holds it.
struct CompareRun {
  std::string phase;  // "tune" (seed 0, one lr of the grid) or "final" (one seed at the chosen lr)
  int64_t epochs = 0; // its budget
  tasks::EvalRecord record;  // rule, lr and seed identify the run
};

// The report of a folder's finished runs: results.csv, tuning.csv, summary.csv, report.md, plots/ and the PNGs
// (when context.gnuplot is set). Called by run_compare; public for tests. `session_seconds` is recorded as the
// wall time. Returns the rows' summaries and notes.
struct ReportFiles {
  std::vector<RowSummary> summary;
  std::vector<std::string> notes;
};
ReportFiles write_compare_report(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                 const std::vector<CompareRun>& journal, const ReportContext& context,
                                 double session_seconds);

// RFC 4180: a field with a comma, quote, CR or LF is quoted, its quotes doubled.
std::string csv_field(const std::string& text);

}  // namespace nos::search
