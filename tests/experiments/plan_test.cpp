// Tests of the plan: which runs a comparison still has to do, given the finished ones (a pure function), and its size.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.h"
#include "experiments/plan.h"

namespace nos::experiments {
namespace {

// A comparison as report folders made before the purpose split ran it (split legacy: tuned on seed 0, seeds from 0).
CompareConfig two_lrs() {
  CompareConfig c;
  c.split = "legacy";
  c.first_seed = 0;
  c.tune_seed = 0;
  c.rules = {"adam", "sgd"};
  c.native_references = false;
  c.epochs = 3;
  c.seeds = 2;
  c.lr_grid = {0.01, 0.1};
  c.tune_epochs = 1;
  return c;
}

std::vector<CompareRow> rows_of(const CompareConfig& c) {
  std::vector<CompareRow> rows;
  for (const std::string& rule : c.rules) rows.push_back({rule, rule, rule, "dsl", "test"});
  return rows;
}

tasks::EvalRecord record(const std::string& status, double val_acc) {
  tasks::EvalRecord r;
  r.status = tasks::parse_status(status);
  r.val_acc = val_acc;
  return r;
}

// "tune adam 0.01 0", "final sgd 0.1 1": a plan as text, for exact comparisons.
std::vector<std::string> text(const std::vector<CompareRow>& rows, const std::vector<PlannedRun>& runs) {
  std::vector<std::string> out;
  for (const PlannedRun& r : runs) {
    out.push_back(r.phase + " " + rows[r.row].rule + " " + std::to_string(r.epochs) + " " +
                  (r.lr == 0.01 ? "0.01" : r.lr == 0.1 ? "0.1" : "?") + " " + std::to_string(r.seed));
  }
  return out;
}

TEST(ComparePlan, AFreshComparisonStartsWithEveryTuningRun) {
  const CompareConfig c = two_lrs();
  const std::vector<CompareRow> rows = rows_of(c);
  EXPECT_EQ(text(rows, runs_to_do(c, rows, {})),
            (std::vector<std::string>{"tune adam 1 0.01 0", "tune adam 1 0.1 0", "tune sgd 1 0.01 0",
                                      "tune sgd 1 0.1 0"}));
  EXPECT_EQ(planned_total(c, rows).runs, 2 * (2 + 2));
  EXPECT_EQ(planned_total(c, rows).epochs, 2 * (2 * 1 + 2 * 3));
  EXPECT_EQ(finished_count(c, rows, {}).runs, 0);
}

TEST(ComparePlan, ARowsSeedsFollowOnceItsTuningIsComplete) {
  const CompareConfig c = two_lrs();
  const std::vector<CompareRow> rows = rows_of(c);
  FinishedRuns finished;
  finished[key_of("adam", 1, 0.01, 0)] = record("ok", 0.7);
  finished[key_of("adam", 1, 0.1, 0)] = record("ok", 0.8);
  finished[key_of("sgd", 1, 0.01, 0)] = record("ok", 0.9);
  EXPECT_EQ(text(rows, runs_to_do(c, rows, finished)),
            (std::vector<std::string>{"final adam 3 0.1 0", "final adam 3 0.1 1", "tune sgd 1 0.1 0"}));
  EXPECT_EQ(row_tuning(c, rows[0], finished).lr, 0.1);
  EXPECT_FALSE(row_tuning(c, rows[1], finished).complete);
  finished[key_of("adam", 3, 0.1, 1)] = record("ok", 0.85);
  EXPECT_EQ(text(rows, runs_to_do(c, rows, finished)),
            (std::vector<std::string>{"final adam 3 0.1 0", "tune sgd 1 0.1 0"}));
  EXPECT_EQ(finished_count(c, rows, finished).runs, 4);
  EXPECT_EQ(finished_count(c, rows, finished).epochs, 3 * 1 + 3);
}

TEST(ComparePlan, ARowWhoseEveryLrDivergedHasNoSeeds) {
  const CompareConfig c = two_lrs();
  const std::vector<CompareRow> rows = rows_of(c);
  FinishedRuns finished;
  finished[key_of("adam", 1, 0.01, 0)] = record("diverged", std::nan(""));
  finished[key_of("adam", 1, 0.1, 0)] = record("diverged", std::nan(""));
  EXPECT_TRUE(std::isnan(row_tuning(c, rows[0], finished).lr));
  EXPECT_EQ(text(rows, runs_to_do(c, rows, finished)),
            (std::vector<std::string>{"tune sgd 1 0.01 0", "tune sgd 1 0.1 0"}));
  EXPECT_EQ(dropped_count(c, rows, finished).runs, 2);
  EXPECT_EQ(dropped_count(c, rows, finished).epochs, 2 * 3);
}

TEST(ComparePlan, EqualBudgetsMakeTheTuningRunSeedZero) {
  CompareConfig c = two_lrs();
  c.rules = {"adam"};
  c.epochs = 1;
  const std::vector<CompareRow> rows = rows_of(c);
  FinishedRuns finished;
  finished[key_of("adam", 1, 0.01, 0)] = record("ok", 0.9);
  finished[key_of("adam", 1, 0.1, 0)] = record("ok", 0.8);
  EXPECT_EQ(text(rows, runs_to_do(c, rows, finished)), (std::vector<std::string>{"final adam 1 0.01 1"}));
  EXPECT_EQ(planned_total(c, rows).runs, 2 + 2 - 1);
}

TEST(ComparePlan, AFinishedComparisonHasNothingLeft) {
  CompareConfig c = two_lrs();
  c.rules = {"adam"};
  const std::vector<CompareRow> rows = rows_of(c);
  FinishedRuns finished;
  for (double lr : c.lr_grid) finished[key_of("adam", 1, lr, 0)] = record("ok", lr == 0.01 ? 0.9 : 0.5);
  for (uint64_t seed : {0, 1}) finished[key_of("adam", 3, 0.01, seed)] = record("ok", 0.9);
  EXPECT_TRUE(runs_to_do(c, rows, finished).empty());
  EXPECT_EQ(finished_count(c, rows, finished).runs, planned_total(c, rows).runs);
}

// Today's default: the lr is tuned on seed 1000 and the seeds reported are 1001 …, so no reported seed chose the
// lr, even when the tuning budget is the full budget.
TEST(ComparePlan, TheFinalSeedsExcludeTheTuningSeed) {
  CompareConfig c;
  c.rules = {"adam"};
  c.native_references = false;
  c.epochs = 1;
  c.tune_epochs = 1;
  c.seeds = 2;
  c.lr_grid = {0.01, 0.1};
  const std::vector<CompareRow> rows = rows_of(c);
  EXPECT_EQ(text(rows, runs_to_do(c, rows, {})),
            (std::vector<std::string>{"tune adam 1 0.01 1000", "tune adam 1 0.1 1000"}));
  FinishedRuns finished;
  finished[key_of("adam", 1, 0.01, 1000)] = record("ok", 0.9);
  finished[key_of("adam", 1, 0.1, 1000)] = record("ok", 0.8);
  EXPECT_EQ(text(rows, runs_to_do(c, rows, finished)),
            (std::vector<std::string>{"final adam 1 0.01 1001", "final adam 1 0.01 1002"}));
  EXPECT_FALSE(tuning_run_is_final(c));
  EXPECT_EQ(planned_total(c, rows).runs, 2 + 2);  // nothing shared
  EXPECT_EQ(final_seeds(c), (std::vector<uint64_t>{1001, 1002}));
  // A config that would report its tuning seed is refused, unless it is a legacy one or tunes over one lr.
  c.first_seed = 999;
  EXPECT_THROW(validate(c, "test"), UserError);
  c.lr_grid = {0.01};
  EXPECT_NO_THROW(validate(c, "test"));
  c.lr_grid = {0.01, 0.1};
  c.split = "legacy";
  EXPECT_NO_THROW(validate(c, "test"));
}

}  // namespace
}  // namespace nos::experiments

namespace nos::experiments {
namespace {

// A learned optimizer's runs are keyed by its rule text and its file's hash: the same file keeps its finished runs,
// another network written to the same path does not; other rules keep the key they always had (old journals).
TEST(ComparePlan, LearnedRulesAreKeyedByTheirFilesHash) {
  CompareRow row;
  row.rule = "lstm:runs/l/best.pt";
  row.canonical = "lstm:00000000000000aa";
  row.kind = "learned";
  tasks::EvalRecord same, other;
  same.rule = other.rule = row.rule;
  same.canonical = "lstm:00000000000000aa";
  other.canonical = "lstm:00000000000000bb";
  EXPECT_EQ(rule_key(row), rule_key(same));
  EXPECT_NE(rule_key(row), rule_key(other));
  CompareRow dsl;
  dsl.rule = "powersign";
  dsl.canonical = "exp(sign(g)*sign(m))*g";
  EXPECT_EQ(rule_key(dsl), "powersign");
  tasks::EvalRecord record;
  record.rule = "powersign";
  record.canonical = dsl.canonical;
  EXPECT_EQ(rule_key(record), "powersign");
}

}  // namespace
}  // namespace nos::experiments
