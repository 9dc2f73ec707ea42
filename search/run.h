// A search job: propose, dedupe, prefilter, evaluate in parallel, store, checkpoint, resume — batch after batch.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dsl/ast.h"
#include "dsl/probe.h"
#include "search/equivalence.h"
#include "search/config.h"
#include "dispatch/pool.h"
#include "search/prefilter.h"
#include "search/proposer.h"
#include "search/store.h"

namespace nos::search {

// Where the search stands, sent after every stored child and at the end of every batch.
struct Progress {
  int64_t done = 0;        // children stored
  int64_t budget = 0;
  int64_t batch = 0;       // the current batch (0-based)
  bool batch_end = false;  // this report closes `batch`
  double batch_mean = 0;   // the batch's mean reward (at batch_end)
  double best_reward = 0;
  std::string best_canonical;
  int64_t cache_hits = 0;  // children whose reward came from an earlier evaluation
  double elapsed_seconds = 0;  // in this session
  double eta_seconds = 0;      // for the rest of the budget, from this session's pace (0 when unknown)
};

// What the caller supplies beside the config: nothing here changes which rules are proposed or their rewards.
struct SearchRuntime {
  std::string run_dir;
  // The nos executable, started as `EXE worker ...` for each of config.workers processes. Empty: evaluate on
  // threads of this process with `evaluator` (or a tasks::LocalEvaluator when that is null).
  std::string worker_executable;
  // Set: makes the pool of worker processes instead of a local ProcessPool (nos search under MPI).
  dispatch::ProcessPoolFactory process_pool;
  std::shared_ptr<tasks::Evaluator> evaluator;
  std::string cache_dir;    // decoded-image caches (tasks::LocalEvaluatorOptions::cache_dir)
  std::string nos_version;  // recorded in the store's meta table
  // Set (e.g. by a SIGINT handler) to stop: workers are killed, what is stored stays, run() returns interrupted.
  const std::atomic<bool>* stop = nullptr;
  std::function<void(const Progress&)> on_progress;
  // Ignore the proposer checkpoint (a damaged proposer.pt is kept as proposer.pt.damaged) and rebuild the proposer
  // by replaying the stored history: it starts from its seed, proposes each stored batch again and learns from the
  // stored rewards, so no stored child is trained again. Its proposals must match the stored ones (they do on the
  // machine and nos that wrote them); a mismatch is a UserError naming the slot.
  bool rebuild_proposer = false;
  // Test hook: the debug flag (see Job) for the child in (batch, slot) with this canonical rule; empty for none.
  std::function<std::string(int64_t batch, int64_t slot, const std::string& canonical)> debug_flag;
};

struct SearchResult {
  bool interrupted = false;
  bool max_trained_reached = false;  // stopped by SearchConfig::max_trained before the budget
  int64_t children = 0;      // children stored in all
  int64_t evaluated = 0;     // children evaluated by workers in this session
  int64_t cache_hits = 0;    // in all
  int64_t equivalence_hits = 0;  // of those, rules of another canonical text with the same probe fingerprint
  int64_t hurdles = 0;       // children stopped at their hurdle (status hurdle), in all
  int64_t trained = 0;       // children trained by a worker (not cached, invalid or rejected), in all
  int64_t crashed = 0;       // of those, children whose worker crashed (status crashed): a bug in nos, not a reward
  double best_reward = 0;
  std::string best_canonical;
  double seconds = 0;        // this session
  std::vector<std::string> notes;  // for the user (e.g. a run folder left empty by a killed start, started afresh)
};

// The files of a run folder.
std::string store_path(const std::string& run_dir);       // RUN_DIR/search.db
std::string config_path(const std::string& run_dir);      // RUN_DIR/config.yaml (the resolved config)
std::string checkpoint_path(const std::string& run_dir);  // RUN_DIR/proposer.pt

// The loop over batches, given its parts. Each batch proposes min(batch_size, budget − children so far) rules;
// each slot already in the store keeps its stored row (the proposer, restored from the checkpoint, proposes the same
// rules again). Others: tokens that do not make a rule → `invalid`; a canonical rule evaluated before (or earlier in
// this batch) → the same reward, `cached`; a rule the prefilter turns down → `rejected`; the rest go to the pool,
// with the batch's hurdle (hurdle_for).
// Each row is committed as it completes; after the batch the proposer gets the rewards, the batch summary is stored,
// the checkpoint is written atomically and the CSVs are extended.
class Search {
 public:
  // Consults (and feeds) a cache shared by runs after the run's own (config.fec_cache is a path); null: none.
  void share_equivalences(SharedEquivalenceCache* cache) { shared_ = cache; }

  // `prefilter` may be null (off). `checkpoint` and `csv_dir` may be empty (none written).
  Search(SearchConfig config, Store& store, Proposer& proposer, dispatch::EvaluatorPool& pool, const Prefilter* prefilter,
         SearchRuntime runtime, std::string checkpoint, std::string csv_dir);
  SearchResult run();

 private:
  struct Batch;
  bool stopping() const;
  // The totals of the children stored before this session; returns how many of them batches before `first` hold.
  int64_t restore_totals(int64_t first);
  // Proposes batch.index's n rules; a slot the store holds keeps its row (a mismatch is a UserError).
  void open_batch(Batch& batch, int n, bool replayed);
  // One job's record; the slot's row is stored when all its fitness jobs are back.
  void take_result(Batch& batch, const dispatch::JobResult& result);
  // The batch's summary, checkpoint, CSV lines and progress report.
  void close_batch(const Batch& batch, std::chrono::steady_clock::time_point batch_start);
  void prepare_slot(Batch& batch, int slot);
  // The slot's rule parsed and compiled into `tree` (row.rule, canonical, hash set); false: stored as invalid.
  bool parse_slot(Batch& batch, int slot, dsl::NodePtr& tree);
  // Reuses the result of `hash` (the slot's own rule, or of the same function when `equivalent`), evaluated earlier
  // or under way in this batch; false when there is none.
  bool reuse_earlier(Batch& batch, int slot, const std::string& hash, bool equivalent);
  // Reuses the shared equivalence cache's result for the slot's `fingerprint`; false when it holds none.
  bool reuse_shared(Batch& batch, int slot, const dsl::Fingerprint& fingerprint);
  void finish_slot(Batch& batch, int slot, Evaluation row);
  // The hurdle of batch `batch`'s children (config.hurdle): a percentile of the stored earlier batches' hurdle
  // accuracies, so it is the same whenever the batch runs; 0 (none) when off or too few.
  double hurdle_for(int64_t batch) const;
  void report(const Batch& batch, bool batch_end, double batch_mean);
  int64_t load_checkpoint();
  void save_checkpoint(int64_t batches_done);
  void rewrite_csvs();
  void append_csvs(const BatchSummary& summary);
  // fitness.baseline's reward per fitness task: read from the store's meta table, or evaluated on the workers (once
  // per run) and stored there. False when stopped before it finished.
  bool load_or_evaluate_baseline();
  // One job per fitness task and seed for `rule`: job id slot·jobs + t·seeds + k evaluates task t with seed
  // task.seed + k; the hurdle applies to the first task (the one its accuracies come from).
  void submit_fitness_jobs(const std::string& rule, int slot, double hurdle, const std::string& debug);
  // The best reward so far, or 0 before any.
  double shown_best() const;

  SearchConfig config_;
  Store& store_;
  Proposer& proposer_;
  dispatch::EvaluatorPool& pool_;
  const Prefilter* prefilter_;
  SearchRuntime runtime_;
  std::string checkpoint_;
  std::string csv_dir_;
  SearchResult result_;
  double best_ = -std::numeric_limits<double>::infinity();
  std::vector<double> baselines_;  // fitness.baseline per fitness task (empty: not normalised)
  double floor_reward_ = 0;        // the reward of a child that earns none (fitness_floor)
  std::string best_canonical_;
  int64_t session_children_ = 0;
  int64_t trained_before_ = 0;  // children trained in earlier sessions (max_trained counts them too)
  int64_t csv_children_ = 0;  // rows in best.csv
  double csv_best_ = -std::numeric_limits<double>::infinity();  // the best reward in best.csv
  std::string csv_best_rule_;
  std::set<std::string> csv_seen_;  // the canonical rules in best.csv: what a later row repeats (progress.csv)
  std::chrono::steady_clock::time_point started_;
  EquivalenceIndex fec_;  // unless config_.fec_cache is "none": the fingerprints of the rules evaluated in this run
  SharedEquivalenceCache* shared_ = nullptr;
};

// Starts a new search in runtime.run_dir (created if needed; one that already holds a search is a UserError),
// recording the resolved config (config.yaml and the store's meta table), seeds and versions.
SearchResult start_search(const SearchConfig& config, const SearchRuntime& runtime);

// The config a run folder was started with (from its store), for resume_search. Keys its nos did not know yet
// read as the behaviour it had (task.lr_search full, task.test_accuracy true, hurdle.enabled false), not as today's
// defaults, so a resumed run keeps its protocol.
SearchConfig run_config(const std::string& run_dir);

// Continues the search in runtime.run_dir to its budget. `config` is run_config(run_dir) where only workers,
// task.population, budget and fec_cache may differ (a larger budget extends the run); any other change is a
// UserError, because the rules already stored were proposed under the recorded config.
SearchResult resume_search(const SearchConfig& config, const SearchRuntime& runtime);

// What a resume may change, in one place for resume_search and the command line: given the flags a user gave with
// --resume (as written, e.g. "--seed", in the order given), throws the UserError for the first that cannot change
// (anything but --workers, --budget, --population and --fec-cache, the keys comparable() leaves out).
void check_resume_flags(const std::vector<std::string>& flags);

}  // namespace nos::search
