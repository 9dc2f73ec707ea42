// A batch's children, one slot at a time: parse, reuse an earlier result, prefilter, send to the pool, store; and the
// fitness plumbing (one job per fitness task and seed, the baseline the rewards are normalised by, the hurdle).
#include <cmath>
#include <iomanip>
#include <sstream>

#include "common/clock.h"
#include "common/text.h"
#include "dsl/canonical.h"
#include "dsl/error.h"
#include "dsl/program.h"
#include "dsl/tokens.h"
#include "optimizers/named.h"
#include "search/run_batch.h"
#include "search/summary.h"

namespace nos::search {

namespace {

// The rule text a worker is sent: the canonical text, in parentheses when it spells a named rule (a name would
// resolve to that row, e.g. `rmsprop` to PyTorch's RMSprop with its own options, not to the operand).
std::string request_rule(const std::string& canonical) {
  return optimizers::find_named_rule(canonical) ? "(" + canonical + ")" : canonical;
}

// A cached row's message: the earlier evaluation it reuses, and whether by text or by function.
std::string same_rule_message(const Evaluation& e) {
  return "same rule as batch " + std::to_string(e.batch) + " slot " + std::to_string(e.slot);
}
std::string same_updates_message(const Evaluation& e) {
  return kSameUpdatesPrefix + e.canonical + " (batch " + std::to_string(e.batch) + " slot " + std::to_string(e.slot) + ")";
}

// A cached row: the result of the evaluation it reuses.
void reuse_result(Evaluation& row, const Evaluation& from) {
  row.reward = from.reward;
  row.val_acc = from.val_acc;
  row.test_acc = from.test_acc;
  row.lr = from.lr;
  row.status = from.status;
  row.cached = true;
}

}  // namespace

void Search::finish_slot(Batch& batch, int slot, Evaluation row) {
  // Only a child that trained to the end (or to its hurdle) earns its reward: invalid, rejected, diverged, ... give
  // the proposer 0.
  if ((row.status != tasks::Status::kOk && row.status != tasks::Status::kHurdle) || !std::isfinite(row.reward)) row.reward = floor_reward_;
  store_.insert(row);
  batch.rewards[slot] = row.reward;
  batch.done[slot] = true;
  ++result_.children;
  ++session_children_;
  if (row.status == tasks::Status::kHurdle && !row.cached) ++result_.hurdles;
  if (row.cached) {
    ++result_.cache_hits;
    if (row.message.rfind(kSameUpdatesPrefix, 0) == 0) ++result_.equivalence_hits;
  }
  if (row.reward > best_) {
    best_ = row.reward;
    best_canonical_ = row.canonical;
  }
  report(batch, false, 0);
  // Later slots of the same rule in this batch were waiting for this result.
  auto waiting = batch.waiting.find(slot);
  if (waiting == batch.waiting.end()) return;
  const std::vector<int> later = waiting->second;
  batch.waiting.erase(waiting);
  batch.pending.erase(row.hash);
  for (int w : later) {
    Evaluation copy = batch.rows[w];
    reuse_result(copy, row);
    copy.message = batch.equivalent.count(w) != 0 ? same_updates_message(row) : same_rule_message(row);
    finish_slot(batch, w, copy);
  }
}

bool Search::parse_slot(Batch& batch, int slot, dsl::NodePtr& tree) {
  Evaluation& row = batch.rows[slot];
  const std::string& tokens = batch.proposals[slot].tokens;
  auto invalid = [&](const std::string& message) {
    row.status = tasks::Status::kInvalid;
    row.message = message;
    row.reward = 0;
    row.val_acc = row.test_acc = row.lr = std::nan("");
    finish_slot(batch, slot, row);
    return false;
  };
  dsl::TokenParseResult parsed = dsl::try_parse_tokens(tokens);
  if (!parsed.diagnostics.empty() || parsed.units.empty()) {
    return invalid(parsed.diagnostics.empty() ? "no tokens"
                                              : dsl::format_diagnostics(parsed.diagnostics, tokens, "tokens"));
  }
  try {
    tree = dsl::from_units(parsed.units);
    row.rule = dsl::to_infix(*tree);
    row.canonical = dsl::canonical_text(tree);
    row.hash = dsl::hash_hex(dsl::rule_hash(tree));
    dsl::compile(tree);
  } catch (const UserError& e) {
    row.rule = row.canonical = row.hash = "";
    return invalid(e.what());
  }
  return true;
}

bool Search::reuse_earlier(Batch& batch, int slot, const std::string& hash, bool equivalent) {
  auto pending = batch.pending.find(hash);
  if (pending != batch.pending.end()) {
    batch.waiting[pending->second].push_back(slot);
    if (equivalent) batch.equivalent.insert(slot);
    return true;
  }
  std::optional<Evaluation> earlier = store_.find_hash(hash);
  if (!earlier) return false;
  Evaluation& row = batch.rows[slot];
  reuse_result(row, *earlier);
  row.message = equivalent ? same_updates_message(*earlier) : same_rule_message(*earlier);
  finish_slot(batch, slot, row);
  return true;
}

bool Search::reuse_shared(Batch& batch, int slot, const dsl::Fingerprint& fingerprint) {
  std::optional<Evaluation> known = shared_->find(fingerprint);
  if (!known) return false;
  Evaluation& row = batch.rows[slot];
  reuse_result(row, *known);
  row.message = kSameUpdatesPrefix + known->canonical + " (" + shared_->path() + ")";
  // What training would give here: the same hurdle accuracy (counted for later batches' hurdles, as a trained
  // child's), and a stop at this batch's hurdle when it falls below it.
  row.hurdle_acc = known->hurdle_acc;
  if (row.status == tasks::Status::kOk && batch.hurdle > 0 && std::isfinite(row.hurdle_acc) &&
      row.hurdle_acc < batch.hurdle) {
    row.status = tasks::Status::kHurdle;
    row.reward = row.hurdle_acc;
    row.message += "; stopped at this batch's hurdle " + nos::format_number(batch.hurdle);
  }
  finish_slot(batch, slot, row);
  return true;
}

void Search::prepare_slot(Batch& batch, int slot) {
  dsl::NodePtr tree;
  if (!parse_slot(batch, slot, tree)) return;
  Evaluation& row = batch.rows[slot];
  // The same canonical rule, then the same function (the probe's fingerprint), evaluated or under way earlier.
  if (reuse_earlier(batch, slot, row.hash, false)) return;
  // Computed once: the equivalence caches, the prefilter's probe checks and, after training, the shared cache read it.
  std::optional<dsl::Fingerprint> fingerprint;
  if (config_.fec_cache != "none") {
    fingerprint = dsl::fingerprint(dsl::compile(tree));
    const std::string same = fec_.find(*fingerprint);
    if (!same.empty() && reuse_earlier(batch, slot, same, true)) return;
    if (shared_ != nullptr && reuse_shared(batch, slot, *fingerprint)) return;
    fec_.add(*fingerprint, row.hash);
  }
  if (prefilter_ != nullptr) {
    const Clock::time_point start = Clock::now();
    PrefilterVerdict verdict = prefilter_->check(tree, fingerprint ? &*fingerprint : nullptr);
    if (!verdict.pass) {
      row.status = tasks::Status::kRejected;
      row.message = verdict.message;
      row.reward = 0;
      row.val_acc = row.test_acc = row.lr = std::nan("");
      row.seconds = seconds_since(start);
      finish_slot(batch, slot, row);
      return;
    }
  }
  const std::string debug = runtime_.debug_flag ? runtime_.debug_flag(batch.index, slot, row.canonical) : "";
  submit_fitness_jobs(request_rule(row.canonical), slot, batch.hurdle, debug);
  batch.pending[row.hash] = slot;
  if (shared_ != nullptr) batch.fingerprints[slot] = std::move(*fingerprint);
}

double Search::hurdle_for(int64_t batch) const {
  if (!config_.hurdle.enabled) return 0;
  const std::vector<double> earlier = store_.hurdle_accuracies(batch);
  if (static_cast<int64_t>(earlier.size()) < config_.hurdle.min_children) return 0;
  return percentile(earlier, config_.hurdle.percentile);
}

void Search::submit_fitness_jobs(const std::string& rule, int slot, double hurdle, const std::string& debug) {
  const int seeds = config_.fitness.seeds;
  const int jobs = seeds * static_cast<int>(fitness_task_count(config_));
  for (size_t t = 0; t < fitness_task_count(config_); ++t) {
    const TaskSettings task = fitness_task(config_, t);
    for (int k = 0; k < seeds; ++k) {
      dispatch::Job job;
      job.id = static_cast<int64_t>(slot) * jobs + static_cast<int64_t>(t) * seeds + k;
      job.request = make_request(task);
      job.request.rule = rule;
      job.request.hurdle = t == 0 ? hurdle : 0;
      job.request.seed = task.seed + static_cast<uint64_t>(k);
      job.debug = debug;
      pool_.submit(std::move(job));
    }
  }
}

bool Search::load_or_evaluate_baseline() {
  const std::string& rule = config_.fitness.baseline;
  if (rule.empty()) return true;
  const size_t tasks = fitness_task_count(config_);
  const int seeds = config_.fitness.seeds;
  if (std::optional<std::string> stored = store_.meta("fitness_baseline")) {
    std::istringstream in(*stored);
    std::vector<double> values;
    for (double x; in >> x;) values.push_back(x);
    NOS_CHECK(values.size() == tasks,
              "the store " << store_.path() << ": fitness_baseline holds " << values.size() << " rewards for " << tasks << " tasks");
    baselines_ = values;
  } else {
    std::vector<tasks::EvalRecord> records(tasks * static_cast<size_t>(seeds));
    submit_fitness_jobs(rule, 0, 0, "");
    while (pool_.outstanding() > 0) {
      if (runtime_.stop != nullptr && runtime_.stop->load()) {
        pool_.shutdown();
        return false;
      }
      for (dispatch::JobResult& r : pool_.wait(kPollSeconds)) {
        if (r.record.status == tasks::Status::kError) {
          pool_.shutdown();
          throw UserError("the fitness baseline '" + rule + "' could not be evaluated: " + r.record.message);
        }
        records[static_cast<size_t>(r.id)] = r.record;
      }
    }
    std::ostringstream text, message;
    text << std::setprecision(17);
    for (size_t t = 0; t < tasks; ++t) {
      const auto begin = records.begin() + static_cast<std::ptrdiff_t>(t) * seeds;
      const tasks::EvalRecord rec = aggregate_fitness(std::vector<tasks::EvalRecord>(begin, begin + seeds),
                                                      config_.fitness);
      const bool counts = (rec.status == tasks::Status::kOk || rec.status == tasks::Status::kHurdle) && std::isfinite(rec.reward);
      baselines_.push_back(counts ? rec.reward : 0.0);
      text << (t == 0 ? "" : " ") << baselines_.back();
      message << (t == 0 ? "" : "; ") << fitness_task(config_, t).task << ": " << rec.status << " "
              << baselines_.back() << (rec.message.empty() ? "" : " (" + rec.message + ")");
    }
    store_.set_meta("fitness_baseline", text.str());
    store_.set_meta("fitness_baseline_detail", rule + " on " + message.str());
  }
  floor_reward_ = fitness_floor(config_.fitness, baselines_);
  return true;
}

}  // namespace nos::search
