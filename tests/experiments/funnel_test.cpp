// Funnel selection (experiments/funnel.h): the gate in seed standard deviations, top-k promotion, stages stored in
// the run's store, resume with nothing trained twice, and the `funnel:` config keys.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "common/error.h"
#include "experiments/experiments.h"
#include "search/search.h"
#include "tests/temp_dir.h"

namespace nos::experiments {
namespace {

using nos::testing::TempDir;

// Known accuracies per rule (0.001 more per seed), whatever the lr and budget; it may set `stop` after `stop_after`
// calls (an interruption in the middle of the funnel).
class RuleEvaluator : public tasks::Evaluator {
 public:
  tasks::EvalRecord evaluate(const tasks::EvalRequest& r) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++calls_;
      if (stop != nullptr && calls_ >= stop_after) stop->store(true);
    }
    static const std::map<std::string, double> known = {{"sign(g)", 0.90}, {"m", 0.80}, {"g", 0.50}, {"adam", 0.85}};
    tasks::EvalRecord rec;
    rec.rule = rec.canonical = r.rule;
    rec.task = r.task;
    rec.lr = r.lr;
    rec.seed = r.seed;
    rec.status = tasks::Status::kOk;
    rec.steps_per_epoch = 10;
    rec.total_steps = 10 * r.epochs;
    const double acc = known.at(r.rule) + 0.001 * static_cast<double>(r.seed % 1000);
    for (int64_t e = 1; e <= r.epochs; ++e) {
      tasks::EpochMetrics m;
      m.epoch = e;
      m.steps = 10 * e;
      m.val_acc = acc;
      m.test_acc = acc - 0.01;
      m.train_loss = 0.5;
      m.seconds = 1;
      m.lr = r.lr;
      rec.epochs.push_back(m);
    }
    rec.val_acc = rec.reward = acc;
    rec.test_acc = acc - 0.01;
    rec.final_loss = 0.5;
    rec.seconds = 1;
    return rec;
  }
  int calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }
  std::atomic<bool>* stop = nullptr;
  int stop_after = 0;

 private:
  mutable std::mutex mutex_;
  int calls_ = 0;
};

// A finished search's store: four rules with status ok (one of them the baseline adam) and one that diverged.
void write_search_store(const std::string& run_dir) {
  search::Store store(search::store_path(run_dir), search::Store::Mode::kCreate);
  const std::vector<std::tuple<std::string, double, std::string>> rows = {
      {"g", 0.5, "ok"}, {"sign(g)", 0.7, "ok"}, {"adam", 0.65, "ok"}, {"m", 0.6, "ok"}, {"w", 0.0, "diverged"}};
  int64_t slot = 0;
  for (const auto& [rule, reward, status] : rows) {
    search::Evaluation e;
    e.batch = 0;
    e.slot = slot++;
    e.proposer = "random";
    e.tokens = rule;
    e.rule = e.canonical = rule;
    e.hash = "hash-" + rule;
    e.reward = reward;
    e.val_acc = reward;
    e.status = tasks::parse_status(status);
    store.insert(e);
  }
}

search::SearchConfig two_stages() {
  search::SearchConfig c;
  c.task.task = "fmnist-logreg";
  c.workers = 1;
  search::FunnelStage first;
  first.top_k = 3;
  first.seeds = 2;
  first.protocol = "fixed";
  first.lr = 0.01;
  search::FunnelStage second;
  second.name = "longer";
  second.top_k = 1;
  second.seeds = 3;
  second.epochs = 2;
  second.lr_grid = {0.01, 0.1};
  c.funnel = {first, second};
  return c;
}

struct FunnelRun {
  FunnelResult result;
  int calls = 0;
};

FunnelRun run(const search::SearchConfig& config, const std::string& run_dir, std::atomic<bool>* stop = nullptr,
              int stop_after = 0) {
  auto evaluator = std::make_shared<RuleEvaluator>();
  evaluator->stop = stop;
  evaluator->stop_after = stop_after;
  FunnelRuntime runtime;
  runtime.make_pool = [evaluator](const CompareConfig& cc) {
    return std::unique_ptr<dispatch::EvaluatorPool>(std::make_unique<dispatch::ThreadPool>(evaluator, cc.jobs));
  };
  runtime.stop = stop;
  FunnelRun out;
  out.result = run_funnel(config, run_dir, runtime);
  out.calls = evaluator->calls();
  return out;
}

RowSummary summary(const std::string& rule, int ok, double mean, double sd) {
  RowSummary s;
  s.row.rule = rule;
  s.seeds_ok = ok;
  s.final_val.n = ok;
  s.final_val.mean = mean;
  s.final_val.std = sd;
  s.lr = 0.01;
  return s;
}

// The gate: beat the baseline's mean by margin · √((sd² + sd_baseline²)/2); the passers best first, top-k go on.
TEST(Funnel, GateIsMeasuredInSeedStandardDeviations) {
  search::SearchConfig c = two_stages();
  c.funnel[0].margin = 1;
  const std::vector<RowSummary> candidates = {summary("c", 3, 0.851, 0.02), summary("d", 0, NAN, NAN),
                                              summary("b", 3, 0.86, 0.01), summary("a", 3, 0.90, 0.01),
                                              summary("e", 3, 0.95, 0.01)};
  const RowSummary baseline = summary("adam", 3, 0.85, 0.01);
  const std::vector<search::FunnelRow> rows = gate_stage(c, 0, candidates, &baseline, 1);
  ASSERT_EQ(rows.size(), 6u);
  // Ranked by mean validation accuracy; no ok seed last; the baseline after the candidates.
  const std::vector<std::string> order = {"e", "a", "b", "c", "d", "adam"};
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].rule, order[i]);
    EXPECT_EQ(rows[i].position, static_cast<int64_t>(i));
    EXPECT_EQ(rows[i].stage_name, "stage-1");
  }
  EXPECT_NEAR(rows[1].threshold, 0.86, 1e-12);                                  // sd 0.01 on both sides
  EXPECT_NEAR(rows[3].threshold, 0.85 + std::sqrt((0.0004 + 0.0001) / 2), 1e-12);  // 0.8658: 0.851 fails
  EXPECT_TRUE(rows[0].passed);
  EXPECT_TRUE(rows[1].passed);
  EXPECT_FALSE(rows[2].passed);  // 0.86 does not exceed 0.86
  EXPECT_FALSE(rows[3].passed);
  EXPECT_FALSE(rows[4].passed);  // no seed ok
  EXPECT_TRUE(rows[5].baseline);
  // Top-1 of the passers goes on.
  EXPECT_TRUE(rows[0].promoted);
  EXPECT_FALSE(rows[1].promoted);
  // With margin 0 the threshold is the baseline's mean; two go on when the next stage takes two.
  c.funnel[0].margin = 0;
  const std::vector<search::FunnelRow> lenient = gate_stage(c, 0, candidates, &baseline, 2);
  EXPECT_TRUE(lenient[2].passed && lenient[3].passed);
  EXPECT_TRUE(lenient[0].promoted && lenient[1].promoted && !lenient[2].promoted);
  // A baseline without an ok seed gates nothing; no baseline: no threshold and no baseline row.
  const RowSummary failed = summary("adam", 0, NAN, NAN);
  const std::vector<search::FunnelRow> open = gate_stage(c, 0, candidates, &failed, 10);
  EXPECT_TRUE(open[3].passed && !open[4].passed);
  EXPECT_TRUE(std::isnan(open[0].threshold));
  EXPECT_EQ(gate_stage(c, 0, candidates, nullptr, 10).size(), 5u);
}

// Two stages on a known evaluator: the search's best three distinct ok rules (the baseline's own rule left out)
// against adam, then the passer on a longer, tuned stage; the rows are stored per stage, and a second run trains
// nothing.
TEST(Funnel, RunsItsStagesAndStoresThem) {
  TempDir dir;
  write_search_store(dir.path());
  const search::SearchConfig c = two_stages();
  const FunnelRun first = run(c, dir.path());
  ASSERT_FALSE(first.result.interrupted);
  // Stage 1: 3 rules + adam × 2 seeds at a fixed lr (the tuning run is the first seed) = 8; stage 2: sign(g) and adam, 2
  // lrs + 3 seeds less the tuning run at the chosen lr (tune_epochs 1 < epochs 2: kept) = 2 × 5 = 10.
  EXPECT_EQ(first.calls, 18);
  EXPECT_EQ(first.result.executed, 18);
  const std::vector<search::FunnelRow> stored = search::funnel_rows(dir.path());
  ASSERT_EQ(stored.size(), 6u);
  EXPECT_EQ(stored[0].rule, "sign(g)");
  EXPECT_TRUE(stored[0].passed && stored[0].promoted);
  EXPECT_NEAR(stored[0].val_mean, 0.9015, 1e-12);  // seeds 1001 and 1002
  EXPECT_NEAR(stored[0].threshold, 0.8515, 1e-12);
  EXPECT_EQ(stored[1].rule, "m");
  EXPECT_FALSE(stored[1].passed);
  EXPECT_EQ(stored[2].rule, "g");
  EXPECT_TRUE(stored[3].baseline);
  EXPECT_EQ(stored[3].rule, "adam");
  EXPECT_EQ(stored[4].stage, 1);
  EXPECT_EQ(stored[4].stage_name, "longer");
  EXPECT_EQ(stored[4].rule, "sign(g)");
  EXPECT_EQ(stored[4].seeds_ok, 3);
  EXPECT_TRUE(stored[4].passed);
  EXPECT_FALSE(stored[4].promoted);  // the last stage
  EXPECT_TRUE(stored[5].baseline);
  EXPECT_TRUE(std::ifstream(dir.path() + "/funnel/stage-1/report.md").good());
  EXPECT_TRUE(std::ifstream(dir.path() + "/funnel/longer/runs.jsonl").good());
  const FunnelRun again = run(c, dir.path());
  EXPECT_EQ(again.calls, 0);
  EXPECT_EQ(again.result.skipped, 18);
  EXPECT_EQ(search::funnel_rows(dir.path()).size(), 6u);
}

// Interrupted in the middle of the second stage, then resumed: the same stored rows as an uninterrupted funnel, and
// nothing journaled is trained again.
TEST(Funnel, ResumesMidFunnel) {
  TempDir whole, cut;
  write_search_store(whole.path());
  write_search_store(cut.path());
  const search::SearchConfig c = two_stages();
  const FunnelRun reference = run(c, whole.path());
  std::atomic<bool> stop{false};
  // Stage 1 takes 8 runs: stopped during stage 2, with stage 1 stored.
  const FunnelRun stopped = run(c, cut.path(), &stop, 12);
  EXPECT_TRUE(stopped.result.interrupted);
  EXPECT_EQ(search::funnel_rows(cut.path()).size(), 4u);
  const FunnelRun resumed = run(c, cut.path());
  EXPECT_FALSE(resumed.result.interrupted);
  // Every run of the funnel once: taken from a journal or trained now (runs still queued when the stop came are
  // not journaled, so they are trained again).
  EXPECT_EQ(resumed.result.skipped + resumed.result.executed, reference.calls);
  EXPECT_EQ(resumed.calls, resumed.result.executed);
  EXPECT_GE(resumed.result.skipped, 8);
  const std::vector<search::FunnelRow> a = search::funnel_rows(whole.path()), b = search::funnel_rows(cut.path());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].rule, b[i].rule);
    EXPECT_EQ(a[i].passed, b[i].passed);
    EXPECT_EQ(a[i].val_mean, b[i].val_mean);
  }
}

// A stage no rule enters ends the funnel with a note; a search without ok rules has nothing to send.
TEST(Funnel, EndsWhereNoRuleEnters) {
  TempDir dir;
  write_search_store(dir.path());
  search::SearchConfig c = two_stages();
  c.funnel[0].margin = 100;  // nothing beats adam by 100 sd
  const FunnelRun r = run(c, dir.path());
  int ended = 0;
  for (const std::string& note : r.result.notes) ended += note.find("no rule entered it") != std::string::npos;
  EXPECT_EQ(ended, 1);
  EXPECT_EQ(search::funnel_rows(dir.path()).size(), 4u);
}

// The `funnel:` keys: a list of stages, each key's errors naming its entry.
// The message of the UserError a search config's text gives ("no error" when it parses).
std::string error(const std::string& yaml) {
  try {
    search::parse_config(yaml, "f.yaml");
  } catch (const UserError& e) {
    return std::string(e.what());
  }
  return std::string("no error");
}

TEST(Funnel, ConfigKeysAndErrors) {
  const search::SearchConfig c = search::parse_config(
      "task: {name: fmnist-logreg}\n"
      "funnel:\n"
      "  - {top_k: 4, seeds: 5, epochs: 3, train_size: 20000, protocol: fixed, lr: 0.001, margin: 1}\n"
      "  - {name: mlp, task: fmnist-mlp, baseline: powersign, lr_grid: [0.001, 0.01], tune_epochs: 1}\n",
      "f.yaml");
  ASSERT_EQ(c.funnel.size(), 2u);
  EXPECT_EQ(c.funnel[0].top_k, 4);
  EXPECT_EQ(c.funnel[0].protocol, "fixed");
  EXPECT_EQ(c.funnel[0].train_size, 20000);
  EXPECT_EQ(c.funnel[1].task, "fmnist-mlp");
  EXPECT_EQ(c.funnel[1].baseline, "powersign");
  EXPECT_EQ(search::to_yaml(search::parse_config(search::to_yaml(c), "again")), search::to_yaml(c));
  EXPECT_EQ(funnel_compare_config(c, 0, "R").lr_grid, std::vector<double>{0.001});
  EXPECT_EQ(funnel_compare_config(c, 0, "R").tune_epochs, 3);
  EXPECT_EQ(funnel_compare_config(c, 1, "R").out, "R/funnel/mlp");
  EXPECT_NE(error("funnel:\n  - {seeds: 2}\n  - {colour: red}\n").find("funnel[1].colour"), std::string::npos);
  EXPECT_NE(error("funnel:\n  - {protocol: fixed}\n").find("funnel[0].lr"), std::string::npos);
  EXPECT_NE(error("funnel:\n  - {baseline: 'exp(('}\n").find("funnel[0].baseline"), std::string::npos);
  EXPECT_NE(error("funnel:\n  - {epochs: 1, tune_epochs: 2}\n").find("funnel[0].tune_epochs"), std::string::npos);
  EXPECT_NE(error("task: {name: rosenbrock}\nfunnel:\n  - {seeds: 2}\n").find("funnel[0].task"), std::string::npos);
  EXPECT_NE(error("funnel:\n  - {name: a}\n  - {name: a}\n").find("funnel[1].name"), std::string::npos);
  EXPECT_NE(error("funnel:\n  - {name: ../x}\n").find("funnel[0].name"), std::string::npos);
  EXPECT_NE(error("funnel: 3\n").find("funnel"), std::string::npos);
}

// A funnel confirms: its seeds are none of the search's child seeds, its tuning seed none of its final seeds, and
// it validates on confirmation images (disjoint from the search's selection images) unless a stage says legacy.
TEST(Funnel, NeverReusesTheSelectionsSeedsOrImages) {
  const search::SearchConfig c = search::parse_config(
      "task: {name: fmnist-logreg, seed: 3}\nfitness: {seeds: 2}\nfunnel:\n  - {seeds: 4}\n"
      "  - {seeds: 2, protocol: fixed, lr: 0.01}\n",
      "f.yaml");
  EXPECT_EQ(c.task.split, "selection");
  EXPECT_EQ(search::selection_seeds(c), (std::vector<uint64_t>{3, 4}));
  for (size_t i = 0; i < c.funnel.size(); ++i) {
    const CompareConfig cc = funnel_compare_config(c, i, "R");
    EXPECT_EQ(cc.split, "confirmation");
    for (uint64_t seed : final_seeds(cc)) {
      EXPECT_TRUE(seed != 3 && seed != 4) << seed;
      if (cc.lr_grid.size() > 1) EXPECT_NE(seed, cc.tune_seed);
    }
    EXPECT_TRUE(cc.tune_seed != 3 && cc.tune_seed != 4);
  }
  EXPECT_EQ(final_seeds(funnel_compare_config(c, 0, "R")), (std::vector<uint64_t>{1001, 1002, 1003, 1004}));
  // One lr chooses nothing: the fixed stage's one run per rule at its lr is its first seed, not an extra run.
  EXPECT_EQ(funnel_compare_config(c, 1, "R").tune_seed, 1001u);
  EXPECT_NE(error("funnel:\n  - {first_seed: 0}\n").find("funnel[0].first_seed': seed 0 trained the search's"),
            std::string::npos);
  EXPECT_NE(error("task: {seed: 1000}\nfunnel:\n  - {seeds: 2}\n").find("funnel[0].tune_seed"), std::string::npos);
  EXPECT_NE(error("funnel:\n  - {tune_seed: 1002}\n").find("funnel[0].tune_seed': 1002 is one of the stage's seeds"),
            std::string::npos);
  EXPECT_EQ(error("funnel:\n  - {first_seed: 0, tune_seed: 0, split: legacy}\n"), "no error");
}

}  // namespace
}  // namespace nos::experiments
