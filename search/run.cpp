// The search loop: batch after batch, propose, evaluate the slots (search/run_slots.cpp), collect the pool's results,
// store each batch's summary, checkpoint and CSVs (search/run_files.cpp). Run folders: search/run_folder.cpp.
#include "search/run.h"

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "common/clock.h"
#include "dsl/parse.h"
#include "dsl/program.h"
#include "search/run_batch.h"

namespace nos::search {

std::string store_path(const std::string& run_dir) { return run_dir + "/search.db"; }
std::string config_path(const std::string& run_dir) { return run_dir + "/config.yaml"; }
std::string checkpoint_path(const std::string& run_dir) { return run_dir + "/proposer.pt"; }

Search::Search(SearchConfig config, Store& store, Proposer& proposer, dispatch::EvaluatorPool& pool, const Prefilter* prefilter,
               SearchRuntime runtime, std::string checkpoint, std::string csv_dir)
    : config_(std::move(config)),
      store_(store),
      proposer_(proposer),
      pool_(pool),
      prefilter_(prefilter),
      runtime_(std::move(runtime)),
      checkpoint_(std::move(checkpoint)),
      csv_dir_(std::move(csv_dir)) {}

void Search::report(const Batch& batch, bool batch_end, double batch_mean) {
  if (!runtime_.on_progress) return;
  Progress p;
  p.done = result_.children;
  p.budget = config_.budget;
  p.batch = batch.index;
  p.batch_end = batch_end;
  p.batch_mean = batch_mean;
  p.best_reward = shown_best();
  p.best_canonical = best_canonical_;
  p.cache_hits = result_.cache_hits;
  p.elapsed_seconds = seconds_since(started_);
  if (session_children_ > 0 && p.done < p.budget) {
    p.eta_seconds = p.elapsed_seconds / static_cast<double>(session_children_) * static_cast<double>(p.budget - p.done);
  }
  runtime_.on_progress(p);
}

double Search::shown_best() const { return std::isfinite(best_) ? best_ : 0.0; }

bool Search::stopping() const { return runtime_.stop != nullptr && runtime_.stop->load(); }

int64_t Search::restore_totals(int64_t first) {
  const StoreCounts counts = store_.counts();
  result_.children = counts.total;
  result_.cache_hits = counts.cached;
  // Batches before `first` are complete; the last of them may be short (a budget since raised), so the children
  // proposed so far are counted, not computed from the batch size.
  int64_t proposed = 0;
  for (const Evaluation& e : store_.all()) {
    if (!e.cached && e.status != tasks::Status::kInvalid && e.status != tasks::Status::kRejected) ++trained_before_;
    if (!e.cached && e.status == tasks::Status::kCrashed) ++result_.crashed;
    if (e.cached && e.message.rfind(kSameUpdatesPrefix, 0) == 0) ++result_.equivalence_hits;
    if (!e.cached && e.status == tasks::Status::kHurdle) ++result_.hurdles;
    // The equivalence cache holds every rule evaluated (not reused) so far, as prepare_slot left it.
    if (config_.fec_cache != "none" && !e.cached && !e.canonical.empty() && e.status != tasks::Status::kInvalid) {
      fec_.add(dsl::fingerprint(dsl::compile(dsl::parse(e.canonical))), e.hash);
    }
    if (e.reward > best_) {
      best_ = e.reward;
      best_canonical_ = e.canonical;
    }
    if (e.batch < first) ++proposed;
  }
  return proposed;
}

void Search::open_batch(Batch& batch, int n, bool replayed) {
  const int64_t b = batch.index;
  batch.proposals = proposer_.propose(n);
  NOS_CHECK(static_cast<int>(batch.proposals.size()) == n, "the proposer gave " << batch.proposals.size()
                                                                                 << " proposals for " << n);
  batch.rewards.assign(n, 0.0);
  batch.done.assign(n, false);
  batch.rows.resize(n);
  batch.hurdle = hurdle_for(b);
  const std::map<int64_t, Evaluation> stored = store_.batch(b);
  for (int s = 0; s < n; ++s) {
    const Proposal& p = batch.proposals[s];
    auto found = stored.find(s);
    if (found != stored.end()) {
      if (found->second.tokens != p.tokens) {
        throw UserError(store_.path() + ": batch " + std::to_string(b) + " slot " + std::to_string(s) + " holds '" +
                        found->second.tokens + "' but the " + (replayed ? "replayed" : "restored") +
                        " proposer proposes '" + p.tokens +
                        "': the run folder does not match its proposer (was it written by another nos or machine?)");
      }
      batch.rewards[s] = found->second.reward;
      batch.done[s] = true;
      continue;
    }
    Evaluation& row = batch.rows[s];
    row.batch = b;
    row.slot = s;
    row.proposer = proposer_.kind() + (p.origin.empty() ? "" : ": " + p.origin);
    row.tokens = p.tokens;
  }
}

void Search::take_result(Batch& batch, const dispatch::JobResult& r) {
  const int jobs = config_.fitness.seeds * static_cast<int>(fitness_task_count(config_));
  const int slot = static_cast<int>(r.id / jobs);
  NOS_CHECK(slot >= 0 && slot < static_cast<int>(batch.done.size()) && !batch.done[slot],
            "a result for slot " << slot << " that is not waiting");
  if (r.record.status == tasks::Status::kError) {
    pool_.shutdown();
    throw UserError("a child could not be evaluated: " + r.record.message);
  }
  std::vector<tasks::EvalRecord>& records = batch.seeds[slot];
  records.resize(static_cast<size_t>(jobs));
  records[static_cast<size_t>(r.id % jobs)] = r.record;
  if (++batch.arrived[slot] < jobs) return;
  const tasks::EvalRecord rec = combine_fitness(records, config_, baselines_);
  batch.seeds.erase(slot);
  batch.arrived.erase(slot);
  Evaluation row = batch.rows[slot];
  row.reward = rec.reward;
  row.hurdle_acc = rec.hurdle_acc;
  row.val_acc = rec.val_acc;
  row.test_acc = rec.test_acc;
  row.lr = rec.lr;
  row.status = rec.status;
  row.message = rec.message;
  row.seconds = rec.seconds;
  row.worker = r.worker;
  ++result_.evaluated;
  if (row.status == tasks::Status::kCrashed) ++result_.crashed;
  finish_slot(batch, slot, row);
  if (shared_ != nullptr) shared_->put(batch.fingerprints.at(slot), row);
}

void Search::close_batch(const Batch& batch, Clock::time_point batch_start) {
  BatchSummary summary;
  summary.batch = batch.index;
  summary.children = result_.children;
  double sum = 0;
  for (double r : batch.rewards) sum += r;
  summary.mean_reward = sum / static_cast<double>(batch.rewards.size());
  summary.best_so_far = shown_best();
  // From the store: a batch interrupted midway and finished after a resume holds hits of both sessions.
  summary.cache_hits = 0;
  for (const auto& [slot, e] : store_.batch(batch.index)) summary.cache_hits += e.cached ? 1 : 0;
  summary.seconds = seconds_since(batch_start);
  store_.put_batch(summary);
  save_checkpoint(batch.index + 1);
  append_csvs(summary);
  report(batch, true, summary.mean_reward);
}

SearchResult Search::run() {
  started_ = Clock::now();
  if (!load_or_evaluate_baseline()) {
    result_.interrupted = true;
    return result_;
  }
  const int64_t first = load_checkpoint();
  int64_t proposed = restore_totals(first);
  rewrite_csvs();
  // Batches already summarised are being replayed (a proposer rebuilt from the stored history): their summaries and
  // CSV lines exist.
  std::set<int64_t> summarized;
  for (const BatchSummary& b : store_.batches()) summarized.insert(b.batch);
  for (int64_t b = first; proposed < config_.budget; ++b) {
    if (config_.max_trained > 0 && trained_before_ + result_.evaluated >= config_.max_trained) {
      result_.max_trained_reached = true;
      break;
    }
    const Clock::time_point batch_start = Clock::now();
    // A replayed batch is proposed with the size it had (a short last batch before a budget was raised).
    const int n = summarized.count(b) != 0
                      ? static_cast<int>(store_.batch(b).size())
                      : static_cast<int>(std::min<int64_t>(config_.batch_size, config_.budget - proposed));
    proposed += n;
    Batch batch;
    batch.index = b;
    open_batch(batch, n, first == 0);
    for (int s = 0; s < n && !stopping(); ++s) {
      if (!batch.done[s]) prepare_slot(batch, s);
    }
    while (pool_.outstanding() > 0 && !stopping()) {
      for (dispatch::JobResult& r : pool_.wait(kPollSeconds)) take_result(batch, r);
    }
    if (stopping()) {
      pool_.shutdown();
      result_.interrupted = true;
      break;
    }
    for (int s = 0; s < n; ++s) NOS_CHECK(batch.done[s], "batch " << b << " slot " << s << " never finished");
    proposer_.feedback(batch.proposals, batch.rewards);
    if (summarized.count(b) != 0) {
      save_checkpoint(b + 1);
    } else {
      close_batch(batch, batch_start);
    }
  }
  result_.trained = trained_before_ + result_.evaluated;
  result_.best_reward = shown_best();
  result_.best_canonical = best_canonical_;
  result_.seconds = seconds_since(started_);
  return result_;
}

}  // namespace nos::search
