// `nos bench search`: the search-efficiency mechanisms measured (issue 15). The same search (same proposer, seed and
// budget of proposals) on a pinned cheap proxy, once per stage, each stage adding one mechanism to the one before:
// off (a same-text cache and the Beale prefilter, every child's test accuracy: nos before them) → + equivalence
// cache → + probe checks → no test pass → + successive-halving lr grid → + hurdles (the defaults). Then the quality checks: the best rules of the first and
// last stage re-evaluated with the full protocol on several seeds, and merged pairs (rules that reused another's
// reward because their updates were the same) retrained separately on several seeds.
//
// Every search lives in its own run folder under the bench folder and every re-evaluation is journalled there, so an
// interrupted benchmark continues where it stopped and a finished one prints its figures again without training.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "search/search.h"

namespace nos::bench {

// The stages in order; each adds its mechanism to the one before.
const std::vector<std::string>& search_bench_stages();  // off, fec, probe, notest, halving, hurdle

struct SearchBenchOptions {
  std::string dir;                  // the bench folder (run folders and journals); created if needed
  std::string proposer = "random";  // any proposer; the budget is counted in proposals for every stage
  int64_t budget = 400;
  uint64_t seed = 1;                // the proposer's seed (the same for every stage)
  int workers = 2;
  std::vector<std::string> stages = search_bench_stages();  // a subsequence of search_bench_stages()
  int best_rules = 3;               // re-evaluated per compared run (the first and last stage)
  std::vector<uint64_t> seeds = {1, 2, 3};  // re-evaluation seeds (task.seed: initialisation and batch order)
  int pairs = 20;                   // merged pairs retrained (from the last stage's run)
  // The hurdle stage's percentile (search::HurdleSettings::percentile); a value other than the default runs that
  // stage in its own folder, hurdle-pP, so percentiles can be compared side by side.
  double hurdle_percentile = search::HurdleSettings{}.percentile;
  std::string worker_executable;    // the nos executable, for the searches' worker processes
  std::string data_dir;             // Fashion-MNIST's folder; empty: the default
  std::string cache_dir;
  std::function<void(const std::string&)> log;  // progress lines; may be empty
  const std::atomic<bool>* stop = nullptr;      // set (Ctrl-C) to stop; what is stored stays
};

// The run folder of a stage under options.dir.
std::string stage_dir(const std::string& stage, const SearchBenchOptions& options);

// The pinned proxy of a stage: fmnist-convnet, 4,000 training and 2,000 validation images, one epoch at the best lr
// of {0.001, 0.01, 0.1, 1}, one thread per child, the options' proposer, seed, budget and workers.
search::SearchConfig search_bench_config(const std::string& stage, const SearchBenchOptions& options);

// What one stage's run did, read from its store.
struct StageFigures {
  std::string stage;
  int64_t proposals = 0;
  int64_t trained = 0;          // children a worker trained (to the end, to a hurdle, or to divergence)
  int64_t text_hits = 0;        // reused: the same canonical rule
  int64_t equivalence_hits = 0; // reused: another text, the same probe fingerprint
  std::map<std::string, int64_t> rejected;  // by reason: probe (not finite, constant, uphill, overflow), beale
  int64_t hurdles = 0;
  int64_t invalid = 0;
  int64_t diverged = 0;
  double training_seconds = 0;  // the workers' time in children (one thread each: CPU-seconds)
  double wall_seconds = 0;      // the search's batches
  double best_reward = 0;
  std::string best_rule;
};

// A rule's rewards with the full protocol on each seed.
struct Reevaluation {
  std::string stage;  // the run it is one of the best rules of
  std::string rule;   // canonical text
  double search_reward = 0;
  std::vector<double> rewards;  // per seed of options.seeds
};

// A merged pair: `rule` reused the reward of `same_as` in the last stage's run; both retrained on every seed.
struct MergedPair {
  std::string rule, same_as;
  std::vector<double> rule_rewards, same_as_rewards;
};

struct SearchBenchResult {
  std::vector<StageFigures> stages;
  std::vector<Reevaluation> best;
  std::vector<MergedPair> pairs;
};

// Runs (or continues) every stage's search, then the re-evaluations. Throws nos::UserError for a bad option or a
// bench folder written with other options.
SearchBenchResult run_search_bench(const SearchBenchOptions& options);

// What one stage's run did, read from its store (RUN_DIR/search.db). The best rule is the best among the children
// that earned a reward (status ok or hurdle); none: best_reward 0 and best_rule empty.
StageFigures stage_figures(const std::string& stage, const std::string& run_dir);

// Mean and sample standard deviation (0 for fewer than two values).
double mean_of(const std::vector<double>& values);
double stddev_of(const std::vector<double>& values);

// "0.7980 ± 0.0031 (n 5)"; one value has no spread: "0.7980 (n 1, no spread)"; none: "–".
std::string mean_sd_text(const std::vector<double>& values);

// The quality check of the first and last compared stages' best rules (their rewards pooled over rules and seeds):
// "kept" when the last stage's pooled mean is no lower than the first's by more than one sd, else "NOT kept". With
// fewer than two seeds there is no spread between seeds to compare against: no verdict, and the line says so.
std::string quality_verdict(const std::string& first_stage, const std::vector<double>& first,
                            const std::string& last_stage, const std::vector<double>& last, size_t seeds);

}  // namespace nos::bench
