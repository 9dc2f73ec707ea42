// Tests of the paired comparison with a baseline: the paired t interval and p against values computed by hand (mpmath,
// 30 digits), Holm's adjustment, and the verdicts and plot data of a small comparison.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "experiments/machine.h"
#include "experiments/paired.h"
#include "tests/temp_dir.h"

namespace nos::experiments {
namespace {

TEST(PairedT, MatchesHandComputedIntervalAndP) {
  // d = 0.01, 0.02, 0.03, 0, 0.04: mean 0.02, sd 0.0158114, t(0.975, 4) = 2.7764451.
  const PairedTest a = paired_t({0.01, 0.02, 0.03, 0.00, 0.04});
  EXPECT_EQ(a.n, 5);
  EXPECT_NEAR(a.mean, 0.02, 1e-15);
  EXPECT_NEAR(a.sd, 0.0158113883008419, 1e-12);
  EXPECT_NEAR(a.low, 0.000367568385224429, 1e-10);
  EXPECT_NEAR(a.high, 0.0396324316147756, 1e-10);
  EXPECT_NEAR(a.p, 0.0474206555843196, 1e-10);
  // A negative mean, n = 4: p is two-sided.
  const PairedTest b = paired_t({-0.01, 0.005, 0.0, -0.002});
  EXPECT_NEAR(b.mean, -0.00175, 1e-15);
  EXPECT_NEAR(b.low, -0.0116765630748266, 1e-10);
  EXPECT_NEAR(b.high, 0.00817656307482658, 1e-10);
  EXPECT_NEAR(b.p, 0.613942692963831, 1e-10);
}

TEST(PairedT, DegenerateSamples) {
  const PairedTest one = paired_t({0.3});
  EXPECT_EQ(one.n, 1);
  EXPECT_EQ(one.mean, 0.3);
  EXPECT_TRUE(std::isnan(one.low) && std::isnan(one.p));
  const PairedTest constant = paired_t({0.01, 0.01, 0.01});
  EXPECT_EQ(constant.low, 0.01);
  EXPECT_EQ(constant.p, 0.0);
  EXPECT_EQ(paired_t({0, 0}).p, 1.0);
  EXPECT_EQ(paired_t({}).n, 0);
}

TEST(Holm, StepDownAdjustmentByHand) {
  // Sorted: 0.005 × 4 = 0.02, 0.01 × 3 = 0.03, 0.03 × 2 = 0.06, 0.04 × 1 = 0.04 → 0.06 (monotone); NaN not counted.
  const std::vector<double> adjusted = holm_adjusted({0.01, 0.04, 0.03, std::nan(""), 0.005});
  ASSERT_EQ(adjusted.size(), 5u);
  EXPECT_NEAR(adjusted[0], 0.03, 1e-15);
  EXPECT_NEAR(adjusted[1], 0.06, 1e-15);
  EXPECT_NEAR(adjusted[2], 0.06, 1e-15);
  EXPECT_TRUE(std::isnan(adjusted[3]));
  EXPECT_NEAR(adjusted[4], 0.02, 1e-15);
  EXPECT_EQ(holm_adjusted({0.6, 0.7}), (std::vector<double>{1.0, 1.0}));  // capped at 1
}

// A row's data: final test and validation accuracy per seed (NaN test: a diverged seed).
RowData row_with(const std::vector<std::pair<uint64_t, double>>& test, std::vector<tasks::EvalRecord>& storage) {
  RowData d;
  d.lr = 0.01;
  d.tuning_state = "chosen";
  storage.reserve(16);
  for (const auto& [seed, acc] : test) {
    tasks::EvalRecord r;
    r.status = std::isnan(acc) ? tasks::Status::kDiverged : tasks::Status::kOk;
    tasks::EpochMetrics m;
    m.test_acc = acc;
    m.val_acc = acc - 0.01;
    r.epochs.push_back(m);
    storage.push_back(r);
    d.seeds.push_back({seed, &storage.back()});
  }
  return d;
}

TEST(BaselineComparison, PairsBySeedAndCorrectsForTheNumberOfRules) {
  CompareConfig config;
  config.rules = {"sgd", "adam", "better", "same"};
  std::vector<CompareRow> rows;
  for (const std::string& r : config.rules) rows.push_back({r, r, r, "dsl", "test"});
  std::vector<tasks::EvalRecord> s0, s1, s2, s3;
  std::vector<RowData> data = {
      row_with({{1001, 0.80}, {1002, 0.81}, {1003, 0.79}, {1004, 0.80}, {1005, std::nan("")}}, s0),
      row_with({{1001, 0.90}, {1002, 0.91}, {1003, 0.89}, {1004, 0.90}, {1005, 0.90}}, s1),
      row_with({{1001, 0.92}, {1002, 0.93}, {1003, 0.92}, {1004, 0.92}, {1005, 0.93}}, s2),
      row_with({{1001, 0.91}, {1002, 0.90}, {1003, 0.89}, {1004, 0.91}, {1005, 0.89}}, s3)};
  const BaselineComparison c = compare_with_baseline(config, rows, data);  // baseline: adam, a row
  EXPECT_EQ(c.baseline, "adam");
  ASSERT_EQ(c.rules.size(), 3u);
  EXPECT_EQ(c.rules[0].row, 0u);
  EXPECT_EQ(c.rules[0].test.n, 4);  // seed 1005 of sgd diverged: not paired
  EXPECT_NEAR(c.rules[0].test.mean, -0.1, 1e-12);
  EXPECT_EQ(c.rules[0].verdict, "worse");
  EXPECT_EQ(c.rules[1].verdict, "better");
  EXPECT_NEAR(c.rules[1].test.mean, 0.024, 1e-12);
  EXPECT_EQ(c.rules[2].verdict, "no difference shown");
  // The Holm p of each is at least its own p, and the smallest is multiplied by the 3 rules.
  double smallest = 1;
  for (const BaselineDifference& d : c.rules) {
    EXPECT_GE(d.p_holm, d.test.p);
    smallest = std::min(smallest, d.test.p);
  }
  double smallest_holm = 1;
  for (const BaselineDifference& d : c.rules) smallest_holm = std::min(smallest_holm, d.p_holm);
  EXPECT_NEAR(smallest_holm, 3 * smallest, 1e-12);
  const std::string csv = differences_csv(c, rows);
  EXPECT_NE(csv.find("better,adam,5,0.02"), std::string::npos) << csv;
  EXPECT_EQ(verdict_line(c, rows), "against adam (test accuracy paired by seed, Holm over 3 rules, alpha 0.05): "
                                   "better: better; worse: sgd; no difference shown: 1");
  const std::string md = baseline_markdown(c, rows, false);
  EXPECT_NE(md.find("| better | 5 | +0.0240 ["), std::string::npos) << md;
  // No adam row and no baseline key: no comparison, said so; an explicit baseline that is not a row is named.
  config.rules = {"sgd", "better"};
  const std::vector<CompareRow> two = {rows[0], rows[2]};
  const std::vector<RowData> two_data = {data[0], data[2]};
  EXPECT_NE(compare_with_baseline(config, two, two_data).missing.find("adam is not a row"), std::string::npos);
  config.baseline = "nesterov";
  EXPECT_NE(compare_with_baseline(config, two, two_data).missing.find("'nesterov' is not a row"), std::string::npos);
  config.baseline = "sgd";
  EXPECT_EQ(compare_with_baseline(config, two, two_data).rules.size(), 1u);
}

// A comparison interrupted before any seed paired draws no paired plot (gnuplot refused the all-NaN one) and
// writes none of its files.
TEST(BaselineComparison, NoPairedSeedsNoPlot) {
  CompareConfig config;
  nos::testing::TempDir dir;
  config.out = dir.path();
  config.task = "fmnist-logreg";
  const std::vector<CompareRow> rows = {{"adam", "adam", "adam", "dsl", "test"}, {"sgd", "sgd", "sgd", "dsl", "test"}};
  BaselineComparison c;
  c.baseline = "adam";
  c.rules.push_back(BaselineDifference{});
  c.rules.back().row = 1;
  EXPECT_TRUE(write_paired_plot(config, c, rows, ReportContext{}).empty());
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/plots/paired.gp"));
  c.rules.back().test = paired_t({0.01, 0.02, 0.015});
  write_paired_plot(config, c, rows, ReportContext{});
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/plots/paired.dat"));
}

}  // namespace
}  // namespace nos::experiments

namespace nos::experiments {
namespace {

// nos compare warns when the tree that built it has uncommitted changes: its report could not name the code.
TEST(DirtyTree, AWarningOnlyForADirtyCommit) {
  ReportContext context;
  context.git_commit = "21c7817+dirty";
  EXPECT_NE(dirty_tree_warning(context).find("git 21c7817+dirty"), std::string::npos);
  context.git_commit = "21c7817";
  EXPECT_EQ(dirty_tree_warning(context), "");
  context.git_commit = "";
  EXPECT_EQ(dirty_tree_warning(context), "");
}

}  // namespace
}  // namespace nos::experiments
