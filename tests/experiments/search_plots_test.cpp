// nos top --plot's writer: best-so-far per group (mean and band over runs) and rewards per batch, from run folders.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "experiments/machine.h"
#include "experiments/search_plots.h"
#include "search/search.h"
#include "search/store.h"
#include "tests/temp_dir.h"

namespace nos::experiments {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A 16-child random search on Rosenbrock, in-process.
void small_run(const std::string& dir, uint64_t seed) {
  search::SearchConfig c;
  c.proposer = "random";
  c.budget = 16;
  c.batch_size = 8;
  c.workers = 1;
  c.seed = seed;
  c.task.task = "rosenbrock";
  c.task.steps = 100;
  c.task.lr = 1e-3;
  c.task.threads = 1;
  c.prefilter.enabled = false;
  search::SearchRuntime runtime;
  runtime.run_dir = dir;
  search::start_search(c, runtime);
}

TEST(SearchPlots, BestSoFarIsTheMeanAndBandOverAGroupsRuns) {
  testing::TempDir dir;
  small_run(dir.path() + "/a", 1);
  small_run(dir.path() + "/b", 2);
  const std::string out = dir.path() + "/plots";
  const std::vector<std::string> notes =
      write_search_plots({{"both", dir.path() + "/a"}, {"both", dir.path() + "/b"}, {"", dir.path() + "/a"}}, out, "");
  ASSERT_EQ(notes.size(), 1u);  // no gnuplot given: said so
  std::istringstream best(read(out + "/best_so_far.dat"));
  std::string line;
  int lines = 0;
  double previous = -1;
  while (std::getline(best, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream f(line);
    double k = 0, mean = 0, lo = 0, hi = 0, single = 0, single_lo = 0, single_hi = 0;
    f >> k >> mean >> lo >> hi >> single >> single_lo >> single_hi;
    ASSERT_TRUE(f) << line;
    EXPECT_EQ(k, lines + 1);
    EXPECT_LE(lo, mean);
    EXPECT_LE(mean, hi);
    EXPECT_GE(mean, previous);  // a best-so-far never falls
    EXPECT_EQ(single_lo, single_hi);  // the group of one run ("random", run a) has no band
    previous = mean;
    ++lines;
  }
  EXPECT_EQ(lines, 16);
  const std::string rewards = read(out + "/rewards.dat");
  EXPECT_NE(rewards.find("(both)"), std::string::npos);
  EXPECT_NE(rewards.find("(random)"), std::string::npos);
  EXPECT_NE(read(out + "/plots.gp").find("best_so_far.png"), std::string::npos);
  // With gnuplot (Debian's, when installed) the PNGs are made.
  const std::string gnuplot = find_on_path("gnuplot");
  if (!gnuplot.empty()) {
    EXPECT_TRUE(write_search_plots({{"", dir.path() + "/a"}}, out, gnuplot).empty());
    EXPECT_FALSE(read(out + "/best_so_far.png").empty());
    EXPECT_FALSE(read(out + "/rewards.png").empty());
  }
  EXPECT_THROW(write_search_plots({{"", dir.path() + "/none"}}, out, ""), UserError);
}


TEST(SearchPlots, TheBestSoFarAxisZoomsToTheDataAndBatchesTickWhole) {
  // Two groups whose first proposals score 0.1 (as a diverged child does), then climb to 0.84 and 0.86: the axis
  // starts near the band where they differ, not at the low first values.
  std::vector<double> a(100, 0.84), b(100, 0.86);
  for (int k = 0; k < 5; ++k) a[k] = b[k] = 0.1;
  const PlotRange y = best_so_far_range({a, b});
  ASSERT_TRUE(y.valid);
  EXPECT_GT(y.lo, 0.8);
  EXPECT_LT(y.lo, 0.84);
  EXPECT_GT(y.hi, 0.86);
  EXPECT_LT(y.hi, 0.9);
  EXPECT_FALSE(best_so_far_range({{}}).valid);
  // Ticks on whole batches, never 0.5, at most 10 intervals.
  EXPECT_EQ(whole_tick_step(0), 1);
  EXPECT_EQ(whole_tick_step(3), 1);
  EXPECT_EQ(whole_tick_step(10), 1);
  EXPECT_EQ(whole_tick_step(11), 2);
  EXPECT_EQ(whole_tick_step(39), 5);
  EXPECT_EQ(whole_tick_step(100), 10);
  EXPECT_EQ(whole_tick_step(101), 20);
}

TEST(SearchPlots, TheScriptLabelsFunnelRulesAndTicksWholeBatches) {
  testing::TempDir dir;
  small_run(dir.path() + "/a", 1);
  {
    search::Store store(search::store_path(dir.path() + "/a"), search::Store::Mode::kOpen);
    search::FunnelRow candidate;
    candidate.rule = "sign(g)*exp(m)";
    candidate.val_mean = 0.8;
    candidate.val_std = 0.01;
    search::FunnelRow baseline = candidate;
    baseline.rule = "adam";
    baseline.baseline = true;
    baseline.position = 1;
    store.put_funnel_stage(0, {candidate, baseline});
  }
  const std::string out = dir.path() + "/plots";
  write_search_plots({{"", dir.path() + "/a"}}, out, "");
  const std::string script = read(out + "/plots.gp");
  EXPECT_NE(script.find("set xtics 0, 1\n"), std::string::npos) << script;  // 2 batches: every batch
  EXPECT_NE(script.find("set format x \"%.0f\""), std::string::npos);
  EXPECT_NE(script.find("set yrange ["), std::string::npos);
  EXPECT_NE(script.find("with labels"), std::string::npos);
  EXPECT_NE(read(out + "/funnel.dat").find("\"sign(g)*exp(m)\""), std::string::npos);
  const std::string gnuplot = find_on_path("gnuplot");
  if (!gnuplot.empty()) {
    EXPECT_TRUE(write_search_plots({{"", dir.path() + "/a"}}, out, gnuplot).empty()) << read(out + "/gnuplot.log");
    EXPECT_FALSE(read(out + "/funnel.png").empty());
  }
}

}  // namespace
}  // namespace nos::experiments
