// The search loop and run folders: batches, the dedup cache, the prefilter, stored rows, checkpoints, CSVs, resume.
#include "search/run.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <torch/serialize.h>
#include <torch/version.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "common/clock.h"
#include "common/files.h"
#include "common/text.h"
#include "dsl/canonical.h"
#include "dsl/error.h"
#include "dsl/parse.h"
#include "dsl/probe.h"
#include "dsl/program.h"
#include "dsl/tokens.h"
#include "optimizers/named.h"
#include "search/summary.h"
#include "dispatch/make_pool.h"

namespace nos::search {

namespace {

constexpr int64_t kCheckpointFormat = 1;
// How often the loop wakes to notice a stop request while children run.
constexpr double kPollSeconds = 0.2;

// Makes `dir` and its parents (POSIX: a PyTorch wheel's libtorch may carry its own std::filesystem, see
// tests/temp_dir.h).
void make_dirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    const std::string prefix = dir.substr(0, i);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      throw UserError(prefix + ": cannot create the run folder: " + std::strerror(errno));
    }
  }
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) throw UserError(dir + ": not a folder");
}

bool file_exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot be read");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

torch::Tensor bytes_tensor(const std::string& bytes) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  if (!bytes.empty()) std::memcpy(t.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  return t;
}

std::string tensor_bytes(const torch::Tensor& t) {
  torch::Tensor c = t.contiguous().to(torch::kUInt8);
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), static_cast<size_t>(c.numel()));
}

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

std::string csv_number(double x) { return std::isfinite(x) ? nos::format_number(x) : ""; }

std::string csv_text(const std::string& text) {
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

const char* kProgressHeader = "batch,children,mean_reward,best_so_far,cache_hits,repeats,seconds\n";
const char* kBestHeader = "child,batch,slot,reward,best_so_far,best_rule\n";

// repeats: the batch's proposals whose canonical rule came earlier in the run (search/summary.h, note_repeat).
std::string progress_line(const BatchSummary& b, int64_t repeats) {
  return std::to_string(b.batch) + "," + std::to_string(b.children) + "," + csv_number(b.mean_reward) + "," +
         csv_number(b.best_so_far) + "," + std::to_string(b.cache_hits) + "," + std::to_string(repeats) + "," +
         csv_number(b.seconds) + "\n";
}

}  // namespace

std::string store_path(const std::string& run_dir) { return run_dir + "/search.db"; }
std::string config_path(const std::string& run_dir) { return run_dir + "/config.yaml"; }
std::string checkpoint_path(const std::string& run_dir) { return run_dir + "/proposer.pt"; }

// ---------------------------------------------------------------------------------------------------------------
// the loop

struct Search::Batch {
  int64_t index = 0;
  std::vector<Proposal> proposals;
  std::vector<double> rewards;
  std::vector<bool> done;
  std::vector<Evaluation> rows;            // what each slot will store (filled as far as known)
  std::map<std::string, int> pending;      // hash → the slot evaluating it in the pool
  std::map<int, std::vector<int>> waiting;  // that slot → later slots of the same rule (or of the same function)
  std::set<int> equivalent;                 // waiting slots whose rule only computes the same updates
  std::map<int, dsl::Fingerprint> fingerprints;  // slots in the pool, for the shared cache (when there is one)
  std::map<int, std::vector<tasks::EvalRecord>> seeds;  // slots in the pool: their seeds' records so far (fitness)
  std::map<int, int> arrived;                           // how many of those records have come back
  double hurdle = 0;                        // the hurdle of this batch's children (0: none)
};

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

int64_t Search::load_checkpoint() {
  if (checkpoint_.empty() || !file_exists(checkpoint_)) return 0;
  if (runtime_.rebuild_proposer) {
    const std::string aside = checkpoint_ + ".damaged";
    if (std::rename(checkpoint_.c_str(), aside.c_str()) != 0) {
      throw UserError("cannot move " + checkpoint_ + " aside to " + aside + ": " + std::strerror(errno));
    }
    return 0;
  }
  const std::string run = runtime_.run_dir.empty() ? std::string("RUN_DIR") : shell_quote(runtime_.run_dir);
  const std::string way_forward = "; 'nos search --resume " + run +
                                  " --rebuild-proposer' rebuilds the proposer from the stored children (none is "
                                  "trained again)";
  torch::serialize::InputArchive archive;
  torch::Tensor format, batches, kind, state;
  try {
    archive.load_from(checkpoint_);
    archive.read("format", format);
    archive.read("batches_done", batches);
    archive.read("kind", kind);
    archive.read("state", state);
  } catch (const c10::Error&) {
    throw UserError(checkpoint_ + ": the proposer checkpoint cannot be read (damaged?)" + way_forward);
  }
  if (format.item<int64_t>() != kCheckpointFormat) {
    throw UserError(checkpoint_ + ": checkpoint format " + std::to_string(format.item<int64_t>()) +
                    " is not the one this nos writes (" + std::to_string(kCheckpointFormat) + ")" + way_forward);
  }
  if (tensor_bytes(kind) != proposer_.kind()) {
    throw UserError(checkpoint_ + ": a checkpoint of a " + tensor_bytes(kind) + " proposer, but the run's proposer is " +
                    proposer_.kind() + way_forward);
  }
  try {
    proposer_.load(tensor_bytes(state));
  } catch (const c10::Error&) {
    throw UserError(checkpoint_ + ": the proposer's state in the checkpoint cannot be read (damaged?)" + way_forward);
  }
  return batches.item<int64_t>();
}

void Search::save_checkpoint(int64_t batches_done) {
  if (checkpoint_.empty()) return;
  torch::serialize::OutputArchive archive;
  archive.write("format", torch::tensor({kCheckpointFormat}));
  archive.write("batches_done", torch::tensor({batches_done}));
  archive.write("kind", bytes_tensor(proposer_.kind()));
  archive.write("state", bytes_tensor(proposer_.save()));
  // Into memory first, then written with checks: LibTorch's own file writer throws from a destructor on a full
  // disk, which ends the process.
  std::ostringstream bytes;
  archive.save_to(bytes);
  try {
    write_atomically(checkpoint_, bytes.str());
  } catch (const UserError& e) {
    throw UserError(std::string(e.what()) + ". Every child stored so far is kept; free space, then continue with: "
                    "nos search --resume " +
                    (runtime_.run_dir.empty() ? std::string("RUN_DIR") : shell_quote(runtime_.run_dir)));
  }
}

void Search::rewrite_csvs() {
  if (csv_dir_.empty()) return;
  // Both files hold finished batches only: the rows of a batch interrupted midway are added, with the rest of their
  // batch, when it finishes (append_csvs), so no child is listed twice after a resume. The interrupted batch is the
  // last, so leaving its rows out of csv_seen_ changes no earlier batch's repeats.
  const std::vector<BatchSummary> batches = store_.batches();
  std::set<int64_t> finished;
  for (const BatchSummary& b : batches) finished.insert(b.batch);
  std::map<int64_t, int64_t> repeats;
  std::string best = kBestHeader;
  csv_children_ = 0;
  csv_best_ = -std::numeric_limits<double>::infinity();
  csv_best_rule_.clear();
  csv_seen_.clear();
  for (const Evaluation& e : store_.all()) {
    if (finished.count(e.batch) == 0) continue;
    repeats[e.batch] += note_repeat(csv_seen_, e);
    if (e.reward > csv_best_) {
      csv_best_ = e.reward;
      csv_best_rule_ = e.canonical;
    }
    best += std::to_string(++csv_children_) + "," + std::to_string(e.batch) + "," + std::to_string(e.slot) + "," +
            csv_number(e.reward) + "," + csv_number(csv_best_) + "," + csv_text(csv_best_rule_) + "\n";
  }
  std::string progress = kProgressHeader;
  for (const BatchSummary& b : batches) progress += progress_line(b, repeats[b.batch]);
  write_atomically(csv_dir_ + "/progress.csv", progress);
  write_atomically(csv_dir_ + "/best.csv", best);
}

void Search::append_csvs(const BatchSummary& summary) {
  if (csv_dir_.empty()) return;
  // Rewritten whole at every start, so appending here can never leave a duplicate behind an interruption.
  int64_t repeats = 0;
  std::ofstream best(csv_dir_ + "/best.csv", std::ios::app);
  for (const auto& [slot, e] : store_.batch(summary.batch)) {
    repeats += note_repeat(csv_seen_, e);
    if (e.reward > csv_best_) {
      csv_best_ = e.reward;
      csv_best_rule_ = e.canonical;
    }
    best << ++csv_children_ << "," << e.batch << "," << e.slot << "," << csv_number(e.reward) << ","
         << csv_number(csv_best_) << "," << csv_text(csv_best_rule_) << "\n";
  }
  std::ofstream(csv_dir_ + "/progress.csv", std::ios::app) << progress_line(summary, repeats);
}

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

void Search::prepare_slot(Batch& batch, int slot) {
  Evaluation& row = batch.rows[slot];
  const std::string& tokens = batch.proposals[slot].tokens;
  auto invalid = [&](const std::string& message) {
    row.status = tasks::Status::kInvalid;
    row.message = message;
    row.reward = 0;
    row.val_acc = row.test_acc = row.lr = std::nan("");
    finish_slot(batch, slot, row);
  };
  dsl::TokenParseResult parsed = dsl::try_parse_tokens(tokens);
  if (!parsed.diagnostics.empty() || parsed.units.empty()) {
    invalid(parsed.diagnostics.empty() ? "no tokens" : dsl::format_diagnostics(parsed.diagnostics, tokens, "tokens"));
    return;
  }
  dsl::NodePtr tree;
  try {
    tree = dsl::from_units(parsed.units);
    row.rule = dsl::to_infix(*tree);
    row.canonical = dsl::canonical_text(tree);
    row.hash = dsl::hash_hex(dsl::rule_hash(tree));
    dsl::compile(tree);
  } catch (const UserError& e) {
    row.rule = row.canonical = row.hash = "";
    invalid(e.what());
    return;
  }
  // The same canonical rule, then the same function (the probe's fingerprint), evaluated or under way earlier.
  auto reuse = [&](const std::string& hash, bool equivalent) {
    auto pending = batch.pending.find(hash);
    if (pending != batch.pending.end()) {
      batch.waiting[pending->second].push_back(slot);
      if (equivalent) batch.equivalent.insert(slot);
      return true;
    }
    std::optional<Evaluation> earlier = store_.find_hash(hash);
    if (!earlier) return false;
    reuse_result(row, *earlier);
    row.message = equivalent ? same_updates_message(*earlier) : same_rule_message(*earlier);
    finish_slot(batch, slot, row);
    return true;
  };
  if (reuse(row.hash, false)) return;
  // Computed once: the equivalence caches, the prefilter's probe checks and, after training, the shared cache read it.
  std::optional<dsl::Fingerprint> fingerprint;
  if (config_.fec_cache != "none") {
    fingerprint = dsl::fingerprint(dsl::compile(tree));
    const std::string same = fec_.find(*fingerprint);
    if (!same.empty() && reuse(same, true)) return;
    if (shared_ != nullptr) {
      if (std::optional<Evaluation> known = shared_->find(*fingerprint)) {
        reuse_result(row, *known);
        row.message = kSameUpdatesPrefix + known->canonical + " (" + shared_->path() + ")";
        // What training would give here: the same hurdle accuracy (counted for later batches' hurdles, as a trained
        // child's), and a stop at this batch's hurdle when it falls below it.
        row.hurdle_acc = known->hurdle_acc;
        if (row.status == tasks::Status::kOk && batch.hurdle > 0 && std::isfinite(row.hurdle_acc) && row.hurdle_acc < batch.hurdle) {
          row.status = tasks::Status::kHurdle;
          row.reward = row.hurdle_acc;
          row.message += "; stopped at this batch's hurdle " + nos::format_number(batch.hurdle);
        }
        finish_slot(batch, slot, row);
        return;
      }
    }
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

double Search::shown_best() const { return std::isfinite(best_) ? best_ : 0.0; }

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

SearchResult Search::run() {
  started_ = Clock::now();
  if (!load_or_evaluate_baseline()) {
    result_.interrupted = true;
    return result_;
  }
  const int64_t first = load_checkpoint();
  const StoreCounts counts = store_.counts();
  result_.children = counts.total;
  result_.cache_hits = counts.cached;
  // Batches before `first` are complete; the last of them may be short (a budget since raised), so the children
  // proposed so far are counted, not computed from the batch size.
  int64_t proposed = 0;
  int64_t trained_before = 0;  // children trained in earlier sessions (max_trained counts them too)
  for (const Evaluation& e : store_.all()) {
    if (!e.cached && e.status != tasks::Status::kInvalid && e.status != tasks::Status::kRejected) ++trained_before;
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
  rewrite_csvs();
  auto stopping = [&] { return runtime_.stop != nullptr && runtime_.stop->load(); };
  // Batches already summarised are being replayed (a proposer rebuilt from the stored history): their summaries and
  // CSV lines exist.
  std::set<int64_t> summarized;
  for (const BatchSummary& b : store_.batches()) summarized.insert(b.batch);

  auto capped = [&] {
    return config_.max_trained > 0 && trained_before + result_.evaluated >= config_.max_trained;
  };
  for (int64_t b = first; proposed < config_.budget; ++b) {
    if (capped()) {
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
                          found->second.tokens + "' but the " + (first == 0 ? "replayed" : "restored") +
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
    for (int s = 0; s < n; ++s) {
      if (stopping()) break;
      if (!batch.done[s]) prepare_slot(batch, s);
    }
    while (pool_.outstanding() > 0 && !stopping()) {
      for (dispatch::JobResult& r : pool_.wait(kPollSeconds)) {
        const int jobs = config_.fitness.seeds * static_cast<int>(fitness_task_count(config_));
        const int slot = static_cast<int>(r.id / jobs);
        NOS_CHECK(slot >= 0 && slot < n && !batch.done[slot], "a result for slot " << slot << " that is not waiting");
        if (r.record.status == tasks::Status::kError) {
          pool_.shutdown();
          throw UserError("a child could not be evaluated: " + r.record.message);
        }
        std::vector<tasks::EvalRecord>& records = batch.seeds[slot];
        records.resize(static_cast<size_t>(jobs));
        records[static_cast<size_t>(r.id % jobs)] = r.record;
        if (++batch.arrived[slot] < jobs) continue;
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
      continue;
    }
    BatchSummary summary;
    summary.batch = b;
    summary.children = result_.children;
    double sum = 0;
    for (double r : batch.rewards) sum += r;
    summary.mean_reward = sum / n;
    summary.best_so_far = shown_best();
    // From the store: a batch interrupted midway and finished after a resume holds hits of both sessions.
    summary.cache_hits = 0;
    for (const auto& [slot, e] : store_.batch(b)) summary.cache_hits += e.cached ? 1 : 0;
    summary.seconds = seconds_since(batch_start);
    store_.put_batch(summary);
    save_checkpoint(b + 1);
    append_csvs(summary);
    report(batch, true, summary.mean_reward);
  }
  result_.trained = trained_before + result_.evaluated;
  result_.best_reward = shown_best();
  result_.best_canonical = best_canonical_;
  result_.seconds = seconds_since(started_);
  return result_;
}

// ---------------------------------------------------------------------------------------------------------------
// run folders

namespace {

// A store a start left unfinished (the process killed while it created the run): an empty file, a database without
// tables, or nos's tables holding neither the run's config nor a child. Anything else (a run, another program's
// database) is not one, and is kept.
bool unstarted_store(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return false;
  if (st.st_size == 0) return true;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return false;
  }
  auto count = [&](const char* sql) -> int64_t {
    sqlite3_stmt* stmt = nullptr;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
      n = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return n;
  };
  bool unstarted = false;
  const int64_t tables = count("SELECT count(*) FROM sqlite_master WHERE type = 'table'");
  if (tables == 0) {
    unstarted = true;
  } else if (count("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('evaluations', 'meta')") ==
             2) {
    unstarted = count("SELECT count(*) FROM evaluations") == 0 &&
                count("SELECT count(*) FROM meta WHERE key = 'config'") == 0;
  }
  sqlite3_close(db);
  return unstarted;
}

// Removes an unstarted run's store (with SQLite's side files) and checkpoint, so that it starts afresh.
void remove_unstarted(const std::string& run_dir) {
  for (const std::string& file : {store_path(run_dir), store_path(run_dir) + "-wal", store_path(run_dir) + "-shm",
                                  store_path(run_dir) + "-journal", checkpoint_path(run_dir)}) {
    std::remove(file.c_str());
  }
}

// The data folder of each data set the fitness tasks read (the first task naming one wins).
std::map<std::string, std::string> data_dirs(const SearchConfig& config) {
  std::map<std::string, std::string> dirs;
  for (size_t t = 0; t < fitness_task_count(config); ++t) {
    const TaskSettings task = fitness_task(config, t);
    const tasks::TaskSpec spec = tasks::parse_task_name(task.task);
    if (!task.data_dir.empty() && !spec.dataset.empty()) dirs.emplace(spec.dataset, task.data_dir);
  }
  return dirs;
}

std::unique_ptr<dispatch::EvaluatorPool> make_pool(const SearchConfig& config, const SearchRuntime& runtime) {
  dispatch::PoolSettings settings;
  settings.workers = config.workers;
  settings.threads = config.task.threads;
  settings.data_dirs = data_dirs(config);
  settings.cache_dir = runtime.cache_dir;
  settings.population = config.task.population;
  settings.executable = runtime.worker_executable;
  settings.log_path = runtime.run_dir + "/workers.log";
  settings.kill_grace = config.task.kill_grace;
  settings.process_pool = runtime.process_pool;
  settings.evaluator = runtime.evaluator;
  return dispatch::make_pool(settings);
}

// What a run needs beside its store and pool. Made before a new run creates anything: a proposer that cannot be made
// (a warm start too long for the space) or a file that is not an equivalence cache stops the start with nothing
// written, so the corrected command starts cleanly.
struct RunParts {
  std::unique_ptr<Proposer> proposer;
  std::unique_ptr<Prefilter> prefilter;
  std::unique_ptr<SharedEquivalenceCache> shared;
};

RunParts make_parts(const SearchConfig& config, const SearchRuntime& runtime) {
  RunParts parts;
  parts.proposer = make_proposer(config);
  if (config.prefilter.enabled) parts.prefilter = std::make_unique<Prefilter>(config.prefilter);
  if (config.fec_cache != "run" && config.fec_cache != "none") {
    // A reward over several fitness seeds is another reward than one seed's: its own key.
    std::string key = fec_task_key(config.task);
    if (config.fitness.seeds > 1 || fitness_task_count(config) > 1 || !config.fitness.baseline.empty()) {
      key += " fitness " + std::to_string(config.fitness.seeds) + " " + config.fitness.aggregate;
      for (size_t t = 1; t < fitness_task_count(config); ++t) key += " + " + fec_task_key(fitness_task(config, t));
      if (!config.fitness.baseline.empty()) key += " - " + config.fitness.baseline;
    }
    parts.shared = std::make_unique<SharedEquivalenceCache>(config.fec_cache, key);
  }
  return parts;
}

SearchResult run_in(const SearchConfig& config, const SearchRuntime& runtime, Store& store, RunParts& parts) {
  std::unique_ptr<dispatch::EvaluatorPool> pool = make_pool(config, runtime);
  Search search(config, store, *parts.proposer, *pool, parts.prefilter.get(), runtime,
                checkpoint_path(runtime.run_dir), runtime.run_dir);
  if (parts.shared) search.share_equivalences(parts.shared.get());
  return search.run();
}

// The config with the keys a resume may change set to fixed values, to compare the rest.
std::string comparable(SearchConfig c) {
  c.workers = 1;
  c.budget = 1;
  c.max_trained = 0;
  // The equivalence cache changes no reward (a reused one is what training would give), so it may change too.
  c.fec_cache = "run";
  // Populations change no result either (each child is its solo run).
  c.task.population = 1;
  return to_yaml(c);
}

}  // namespace

SearchResult start_search(const SearchConfig& config, const SearchRuntime& runtime) {
  NOS_CHECK(!runtime.run_dir.empty(), "a search needs a run folder");
  validate(config, "config");
  const bool unstarted = unstarted_store(store_path(runtime.run_dir));
  if (file_exists(store_path(runtime.run_dir)) && !unstarted) {
    throw UserError(runtime.run_dir + " already holds a search; continue it with --resume " + runtime.run_dir +
                    ", or choose another --run-dir");
  }
  RunParts parts = make_parts(config, runtime);
  make_dirs(runtime.run_dir);
  // One nos at a time in a run folder: a second would store the same slots again. Checked again under the lock.
  const FolderLock lock(runtime.run_dir, "this search");
  if (file_exists(store_path(runtime.run_dir)) && !unstarted_store(store_path(runtime.run_dir))) {
    throw UserError(runtime.run_dir + " already holds a search; continue it with --resume " + runtime.run_dir +
                    ", or choose another --run-dir");
  }
  if (unstarted) remove_unstarted(runtime.run_dir);
  const std::string yaml = to_yaml(config);
  write_atomically(config_path(runtime.run_dir), yaml);
  // A checkpoint left from an earlier run in this folder would be taken for this run's.
  std::remove(checkpoint_path(runtime.run_dir).c_str());
  Store store(store_path(runtime.run_dir), Store::Mode::kCreate);
  store.set_meta("config", yaml);
  store.set_meta("seed", std::to_string(config.seed));
  store.set_meta("task_seed", std::to_string(config.task.seed));
  store.set_meta("proposer", config.proposer);
  store.set_meta("nos_version", runtime.nos_version.empty() ? "unknown" : runtime.nos_version);
  store.set_meta("libtorch_version", TORCH_VERSION);
  store.set_meta("created", utc_now());
  store.set_meta(kCanonicalVersionKey, std::to_string(dsl::kCanonicalVersion));
  SearchResult result = run_in(config, runtime, store, parts);
  if (unstarted) {
    result.notes.insert(result.notes.begin(), store_path(runtime.run_dir) +
                                                  " was left empty by a start that was stopped while creating it "
                                                  "(no child stored): the search started afresh");
  }
  return result;
}

SearchConfig run_config(const std::string& run_dir) {
  // A run stopped while its store was being created: its config.yaml (written first) says how it was started.
  if (unstarted_store(store_path(run_dir)) && file_exists(config_path(run_dir))) {
    return parse_recorded_config(read_file(config_path(run_dir)), config_path(run_dir));
  }
  Store store(store_path(run_dir), Store::Mode::kReadOnly);
  std::optional<std::string> yaml = store.meta("config");
  if (!yaml) throw UserError(store_path(run_dir) + ": holds no config (not a nos search run?)");
  return parse_recorded_config(*yaml, store_path(run_dir) + " (recorded config)");
}

SearchResult resume_search(const SearchConfig& config, const SearchRuntime& runtime) {
  if (unstarted_store(store_path(runtime.run_dir))) {
    if (!file_exists(config_path(runtime.run_dir))) {
      throw UserError(store_path(runtime.run_dir) + " is empty: the search was stopped while it was being created, "
                      "before it stored its config; start it again with nos search --config ... --run-dir " +
                      runtime.run_dir);
    }
    const SearchConfig recorded = run_config(runtime.run_dir);
    if (comparable(recorded) != comparable(config)) {
      throw UserError(runtime.run_dir + " was started with another config; a resume may change only the number of "
                      "workers, the budget, task.population and the equivalence cache (fec_cache)");
    }
    return start_search(config, runtime);  // says that it starts afresh
  }
  if (!file_exists(store_path(runtime.run_dir))) {
    throw UserError(runtime.run_dir + ": no search here (" + store_path(runtime.run_dir) + " is missing); start one "
                    "with nos search --run-dir " + runtime.run_dir);
  }
  const FolderLock lock(runtime.run_dir, "this search");
  Store store(store_path(runtime.run_dir), Store::Mode::kOpen);
  std::optional<std::string> recorded = store.meta("config");
  if (!recorded) throw UserError(store_path(runtime.run_dir) + ": holds no config (not a nos search run?)");
  const SearchConfig before = parse_recorded_config(*recorded, store_path(runtime.run_dir) + " (recorded config)");
  if (comparable(before) != comparable(config)) {
    throw UserError(runtime.run_dir + " was started with another config; a resume may change only the number of "
                    "workers, the budget, task.population and the equivalence cache (fec_cache)");
  }
  validate(config, "config");
  const int64_t stored = store.counts().total;
  if (config.budget < stored) {
    throw UserError("budget " + std::to_string(config.budget) + " (--budget) is below the " + std::to_string(stored) +
                    " children " + runtime.run_dir + " already holds: a resume can keep or raise the budget, not "
                    "lower it (give --budget " + std::to_string(stored) + " or more)");
  }
  RunParts parts = make_parts(config, runtime);
  const std::string yaml = to_yaml(config);
  if (yaml != *recorded) {
    store.set_meta("config", yaml);
    write_atomically(config_path(runtime.run_dir), yaml);
  }
  store.set_meta("resumed", utc_now());
  // Rows written under an older canonical form (sign(adam) before issue 36) take today's text and hash, so a rule
  // proposed again meets its earlier evaluation.
  store.upgrade_canonical_form();
  return run_in(config, runtime, store, parts);
}

}  // namespace nos::search
