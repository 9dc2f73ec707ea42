// `nos bench search`: one search per stage on the pinned proxy, figures read back from each run's store, then the
// best rules and merged pairs re-evaluated on several seeds (journalled in the bench folder).
#include "bench/search_bench.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/files.h"
#include "common/text.h"
#include "optimizers/named.h"

namespace nos::bench {

namespace {

bool exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

void say(const SearchBenchOptions& o, const std::string& line) {
  if (o.log) o.log(line);
}

// What a rejection's message says, as a short reason.
std::string rejection_reason(const std::string& message) {
  if (message.rfind("probe: ", 0) == 0) {
    if (message.find("not finite") != std::string::npos) return "probe: not finite";
    if (message.find("constant") != std::string::npos) return "probe: constant";
    if (message.find("overflow") != std::string::npos) return "probe: overflow";
    if (message.find("away from the gradient") != std::string::npos) return "probe: uphill";
    return "probe: other";
  }
  return "beale";
}

}  // namespace

StageFigures stage_figures(const std::string& stage, const std::string& run_dir) {
  search::Store store(search::store_path(run_dir), search::Store::Mode::kReadOnly);
  StageFigures f;
  f.stage = stage;
  f.best_reward = -1;
  for (const search::Evaluation& e : store.all()) {
    ++f.proposals;
    if (e.worker >= 0) {
      ++f.trained;
      f.training_seconds += e.seconds;
    }
    if (e.cached) {
      (e.message.rfind(search::kSameUpdatesPrefix, 0) == 0 ? f.equivalence_hits : f.text_hits) += 1;
    } else if (e.status == tasks::Status::kRejected) {
      ++f.rejected[rejection_reason(e.message)];
    } else if (e.status == tasks::Status::kHurdle) {
      ++f.hurdles;
    } else if (e.status == tasks::Status::kInvalid) {
      ++f.invalid;
    } else if (e.status == tasks::Status::kDiverged) {
      ++f.diverged;
    }
    // A rejected, invalid or diverged child has the floor reward 0: it is never the best rule.
    const bool earned = e.status == tasks::Status::kOk || e.status == tasks::Status::kHurdle;
    if (earned && e.reward > f.best_reward) {
      f.best_reward = e.reward;
      f.best_rule = e.canonical;
    }
  }
  for (const search::BatchSummary& b : store.batches()) f.wall_seconds += b.seconds;
  f.best_reward = std::max(0.0, f.best_reward);
  return f;
}

namespace {

// The best `n` distinct canonical rules of a run with a reward above 0, best first.
std::vector<std::pair<std::string, double>> best_rules(const std::string& run_dir, int n) {
  search::Store store(search::store_path(run_dir), search::Store::Mode::kReadOnly);
  std::vector<std::pair<std::string, double>> out;
  for (const search::Leader& l : store.leaderboard(n)) {
    if (l.best_reward > 0) out.emplace_back(l.canonical, l.best_reward);
  }
  return out;
}

// Distinct (rule, the rule whose reward it reused) of the run's same-update cache hits, in store order.
std::vector<std::pair<std::string, std::string>> merged_pairs(const std::string& run_dir, int n) {
  search::Store store(search::store_path(run_dir), search::Store::Mode::kReadOnly);
  std::vector<std::pair<std::string, std::string>> out;
  std::set<std::pair<std::string, std::string>> seen;
  const std::string prefix = search::kSameUpdatesPrefix;
  for (const search::Evaluation& e : store.all()) {
    if (static_cast<int>(out.size()) >= n) break;
    if (!e.cached || e.message.rfind(prefix, 0) != 0) continue;
    const size_t end = e.message.rfind(" (batch ");
    if (end == std::string::npos || end < prefix.size()) continue;
    const std::string same_as = e.message.substr(prefix.size(), end - prefix.size());
    if (same_as == e.canonical || !seen.insert({e.canonical, same_as}).second) continue;
    out.emplace_back(e.canonical, same_as);
  }
  return out;
}

// Re-evaluations, journalled as "rule<TAB>seed<TAB>reward<TAB>status" lines: a rerun reads them back.
class Journal {
 public:
  explicit Journal(std::string path) : path_(std::move(path)) {
    std::ifstream in(path_);
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> fields;
      std::stringstream s(line);
      std::string field;
      while (std::getline(s, field, '\t')) fields.push_back(field);
      if (fields.size() != 4) continue;  // a line cut by an interruption
      try {
        rewards_[{fields[0], std::stoull(fields[1])}] = std::stod(fields[2]);
      } catch (const std::exception&) {
        continue;
      }
    }
  }
  bool has(const std::string& rule, uint64_t seed) const { return rewards_.count({rule, seed}) != 0; }
  double reward(const std::string& rule, uint64_t seed) const { return rewards_.at({rule, seed}); }
  void add(const std::string& rule, uint64_t seed, double reward, tasks::Status status) {
    rewards_[{rule, seed}] = reward;
    std::ofstream out(path_, std::ios::app);
    out << rule << "\t" << seed << "\t" << nos::format_number(reward) << "\t" << status << "\n";
    if (!out) throw UserError(path_ + ": cannot append to the re-evaluation journal (is the disk full?)");
  }

 private:
  std::string path_;
  std::map<std::pair<std::string, uint64_t>, double> rewards_;
};

std::unique_ptr<dispatch::EvaluatorPool> reevaluation_pool(const SearchBenchOptions& o) {
  if (!o.worker_executable.empty()) {
    dispatch::ProcessPoolOptions p;
    p.executable = o.worker_executable;
    p.args = {"worker", "--threads", "1"};
    if (!o.data_dir.empty()) p.args.insert(p.args.end(), {"--data-dir", "fmnist=" + o.data_dir});
    if (!o.cache_dir.empty()) p.args.insert(p.args.end(), {"--cache-dir", o.cache_dir});
    p.workers = o.workers;
    p.log_path = o.dir + "/workers.log";
    return std::make_unique<dispatch::ProcessPool>(p);
  }
  tasks::LocalEvaluatorOptions l;
  if (!o.data_dir.empty()) l.data_dirs["fmnist"] = o.data_dir;
  l.cache_dir = o.cache_dir;
  l.threads = 1;
  return std::make_unique<dispatch::ThreadPool>(std::make_shared<tasks::LocalEvaluator>(l), o.workers);
}

// Evaluates every (rule, seed) the journal lacks with the full protocol of the proxy (no halving, no hurdle).
void reevaluate(const SearchBenchOptions& o, const std::vector<std::string>& rules, Journal& journal) {
  const search::SearchConfig config = search_bench_config(search_bench_stages().front(), o);
  std::vector<std::pair<std::string, uint64_t>> todo;
  for (const std::string& rule : rules) {
    for (uint64_t seed : o.seeds) {
      if (!journal.has(rule, seed) &&
          std::find(todo.begin(), todo.end(), std::make_pair(rule, seed)) == todo.end()) {
        todo.emplace_back(rule, seed);
      }
    }
  }
  if (todo.empty()) return;
  say(o, "re-evaluating " + std::to_string(todo.size()) + " (rule, seed) pairs with the full protocol");
  std::unique_ptr<dispatch::EvaluatorPool> pool = reevaluation_pool(o);
  for (size_t i = 0; i < todo.size(); ++i) {
    dispatch::Job job;
    job.id = static_cast<int64_t>(i);
    job.request = search::make_request(config.task);
    job.request.rule = optimizers::find_named_rule(todo[i].first) ? "(" + todo[i].first + ")" : todo[i].first;
    job.request.seed = todo[i].second;
    pool->submit(std::move(job));
  }
  size_t done = 0;
  while (pool->outstanding() > 0) {
    if (o.stop != nullptr && o.stop->load()) {
      pool->shutdown();
      throw UserError("interrupted; what was re-evaluated is kept in " + o.dir + "/reevaluations.tsv");
    }
    for (dispatch::JobResult& r : pool->wait(0.5)) {
      const tasks::EvalRecord& rec = r.record;
      if (rec.status == tasks::Status::kError) {
        pool->shutdown();
        throw UserError("a re-evaluation could not run: " + rec.message);
      }
      const auto& [rule, seed] = todo[static_cast<size_t>(r.id)];
      journal.add(rule, seed, rec.status == tasks::Status::kOk && std::isfinite(rec.reward) ? rec.reward : 0.0, rec.status);
      ++done;
      say(o, "  " + std::to_string(done) + "/" + std::to_string(todo.size()) + "  seed " + std::to_string(seed) +
                 "  " + nos::fixed(rec.reward, 4) + "  " + rule);
    }
  }
}

}  // namespace

const std::vector<std::string>& search_bench_stages() {
  static const std::vector<std::string> stages = {"off", "fec", "probe", "notest", "halving", "hurdle"};
  return stages;
}

search::SearchConfig search_bench_config(const std::string& stage, const SearchBenchOptions& options) {
  const std::vector<std::string>& stages = search_bench_stages();
  const auto at = std::find(stages.begin(), stages.end(), stage);
  if (at == stages.end()) {
    throw UserError("unknown stage '" + stage + "' (known: " + nos::joined(stages) + ")");
  }
  const auto level = at - stages.begin();  // the mechanisms of this stage: every one up to it
  search::SearchConfig c;
  c.proposer = options.proposer;
  c.budget = options.budget;
  c.batch_size = 8;
  c.workers = options.workers;
  c.seed = options.seed;
  c.task.task = "fmnist-convnet";
  c.task.epochs = 1;
  c.task.train_size = 4000;
  c.task.validation_size = 2000;
  c.task.lr_grid = {0.001, 0.01, 0.1, 1};
  c.task.data_dir = options.data_dir;
  c.task.time_limit = 600;
  c.task.threads = 1;
  c.fec_cache = level >= 1 ? "run" : "none";
  c.prefilter.probe = level >= 2;
  c.task.test_accuracy = level < 3;
  c.task.lr_search = level >= 4 ? "halving" : "full";
  c.hurdle.enabled = level >= 5;
  c.hurdle.percentile = options.hurdle_percentile;
  return c;
}

std::string stage_dir(const std::string& stage, const SearchBenchOptions& options) {
  const bool other_percentile = stage == "hurdle" && options.hurdle_percentile != search::HurdleSettings{}.percentile;
  return options.dir + "/" + stage + (other_percentile ? "-p" + nos::format_number(options.hurdle_percentile) : "");
}

double mean_of(const std::vector<double>& values) {
  if (values.empty()) return std::nan("");
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

double stddev_of(const std::vector<double>& values) {
  if (values.size() < 2) return 0;
  const double m = mean_of(values);
  double sum = 0;
  for (double v : values) sum += (v - m) * (v - m);
  return std::sqrt(sum / static_cast<double>(values.size() - 1));
}

std::string mean_sd_text(const std::vector<double>& values) {
  if (values.empty()) return "–";
  if (values.size() == 1) return nos::fixed(values.front(), 4) + " (n 1, no spread)";
  return nos::fixed(mean_of(values), 4) + " ± " + nos::fixed(stddev_of(values), 4) + " (n " +
         std::to_string(values.size()) + ")";
}

std::string quality_verdict(const std::string& first_stage, const std::vector<double>& first,
                            const std::string& last_stage, const std::vector<double>& last, size_t seeds) {
  if (seeds < 2) {
    return "quality: no verdict with one re-evaluation seed (a seed's accuracy moves by 0.01-0.03): give --seeds "
           "with 2 or more (5 for a claim)";
  }
  if (first.empty() || last.empty()) {
    return "quality: no verdict: " + (first.empty() ? first_stage : last_stage) + " has no rule that earned a reward";
  }
  const bool kept = mean_of(last) >= mean_of(first) - stddev_of(first);
  return std::string("quality ") + (kept ? "kept" : "NOT kept") + ": " + last_stage + "'s pooled mean is " +
         (kept ? "no lower" : "lower") + " than " + first_stage + "'s by more than one sd";
}

SearchBenchResult run_search_bench(const SearchBenchOptions& o) {
  if (o.dir.empty()) throw UserError("nos bench search needs a folder (--dir)");
  if (o.stages.empty()) throw UserError("no stage to run");
  for (const std::string& stage : o.stages) search_bench_config(stage, o);  // names checked before any work
  if (o.seeds.empty()) throw UserError("no re-evaluation seed");
  const std::vector<std::string> proposers = search::proposer_names();
  if (std::find(proposers.begin(), proposers.end(), o.proposer) == proposers.end()) {
    throw UserError("unknown proposer '" + o.proposer + "' (known: " + nos::joined(proposers) + ")");
  }
  search::SearchResult last;
  SearchBenchResult result;
  for (const std::string& stage : o.stages) {
    const search::SearchConfig config = search_bench_config(stage, o);
    search::SearchRuntime runtime;
    runtime.run_dir = stage_dir(stage, o);
    runtime.worker_executable = o.worker_executable;
    runtime.cache_dir = o.cache_dir;
    runtime.stop = o.stop;
    const bool resuming = exists(search::store_path(runtime.run_dir));
    say(o, std::string(resuming ? "continuing" : "starting") + " stage " + stage + " in " + runtime.run_dir);
    const search::SearchResult r =
        resuming ? search::resume_search(config, runtime) : search::start_search(config, runtime);
    if (r.interrupted) {
      throw UserError("interrupted; every stored child is kept: run the same command again to continue");
    }
    result.stages.push_back(stage_figures(stage, runtime.run_dir));
  }

  // Quality: the first and the last stage's best rules, and the last stage's merged pairs, on every seed.
  Journal journal(o.dir + "/reevaluations.tsv");
  std::vector<std::string> compared = {o.stages.front()};
  if (o.stages.size() > 1) compared.push_back(o.stages.back());
  std::vector<std::string> rules;
  for (const std::string& stage : compared) {
    for (const auto& [rule, reward] : best_rules(stage_dir(stage, o), o.best_rules)) {
      result.best.push_back({stage, rule, reward, {}});
      rules.push_back(rule);
    }
  }
  for (const auto& [rule, same_as] : merged_pairs(stage_dir(o.stages.back(), o), o.pairs)) {
    result.pairs.push_back({rule, same_as, {}, {}});
    rules.push_back(rule);
    rules.push_back(same_as);
  }
  reevaluate(o, rules, journal);
  for (Reevaluation& b : result.best) {
    for (uint64_t seed : o.seeds) b.rewards.push_back(journal.reward(b.rule, seed));
  }
  for (MergedPair& p : result.pairs) {
    for (uint64_t seed : o.seeds) {
      p.rule_rewards.push_back(journal.reward(p.rule, seed));
      p.same_as_rewards.push_back(journal.reward(p.same_as, seed));
    }
  }
  return result;
}

}  // namespace nos::bench
