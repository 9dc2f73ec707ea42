// `nos search` and `nos compare` as users run them: the real executable with its worker processes (`nos worker`),
// on a tiny Fashion-MNIST written to disk. Ctrl-C exits 130 and the same command continues; a worker killed mid-run
// makes compare exit 1 naming the crash, and a rerun retries only what crashed.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "search/search.h"
#include "tests/search/helpers.h"
#include "tests/tasks/fixtures.h"
#include "tests/temp_dir.h"

namespace nos::cli {
namespace {

using nos::search::fixtures::children_of;
using nos::search::fixtures::run_command;
using nos::search::fixtures::spawn_nos;
using nos::search::fixtures::wait_exit_code;
using nos::testing::TempDir;

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int64_t lines_in(const std::string& path) {
  const std::string text = read(path);
  return std::count(text.begin(), text.end(), '\n');
}

// Waits (up to a minute) until `path` has at least `lines` lines; false if it never did.
bool wait_for_lines(const std::string& path, int64_t lines) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (lines_in(path) < lines) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

class Processes : public ::testing::Test {
 protected:
  void SetUp() override {
    namespace fx = nos::tasks::fixtures;
    fx::write_fmnist_pair(dir_.path(), "train", 1200, 1);
    fx::write_fmnist_pair(dir_.path(), "t10k", 100, 2);
  }
  // `nos compare` arguments: convnet runs of about a second each, in two worker processes.
  std::vector<std::string> compare_args(const std::string& out) const {
    return {"compare", "--rules", "adam,sgd,powersign", "--task", "fmnist-convnet", "--epochs", "2", "--seeds", "2",
            "--lr-grid", "0.01,0.1", "--validation-size", "200", "--threads", "1", "--jobs", "2", "--data-dir",
            dir_.path(), "--out", out};
  }
  TempDir dir_;
};

TEST_F(Processes, CompareCtrlCExits130AndTheSameCommandContinues) {
  const std::string out = dir_.path() + "/report";
  const std::vector<std::string> args = compare_args(out);
  const pid_t pid = spawn_nos(args, dir_.path() + "/first.log");
  ASSERT_TRUE(wait_for_lines(out + "/runs.jsonl", 2)) << read(dir_.path() + "/first.log");
  ASSERT_EQ(children_of(pid).size(), 2u) << "compare should run its jobs in two worker processes";
  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit_code(pid), 130) << read(dir_.path() + "/first.log");
  const int64_t kept = lines_in(out + "/runs.jsonl");
  EXPECT_GE(kept, 2);
  EXPECT_TRUE(read(dir_.path() + "/first.log").find("interrupted: finished runs are kept") != std::string::npos)
      << read(dir_.path() + "/first.log");
  std::string command = std::string(NOS_EXECUTABLE);
  for (const std::string& a : args) command += " " + a;
  const auto again = run_command(command);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  // adam + torch-adam, sgd + torch-sgd, powersign: 5 rows x (2 lrs + 2 seeds) = 20 runs, none run twice.
  EXPECT_EQ(lines_in(out + "/runs.jsonl"), 20);
  EXPECT_NE(again.output.find(std::to_string(kept) + " from the journal"), std::string::npos) << again.output;
}

TEST_F(Processes, CompareWithAKilledWorkerExits1AndARerunRetriesOnlyThat) {
  const std::string out = dir_.path() + "/report";
  const std::vector<std::string> args = compare_args(out);
  const pid_t pid = spawn_nos(args, dir_.path() + "/first.log");
  ASSERT_TRUE(wait_for_lines(out + "/runs.jsonl", 1)) << read(dir_.path() + "/first.log");
  const std::vector<pid_t> workers = children_of(pid);
  ASSERT_EQ(workers.size(), 2u);
  for (pid_t w : workers) kill(w, SIGKILL);  // both are busy: the next job is handed out within milliseconds
  const int code = wait_exit_code(pid);
  const std::string log = read(dir_.path() + "/first.log");
  EXPECT_EQ(code, 1) << log;
  EXPECT_NE(log.find("run(s) crashed"), std::string::npos) << log;
  EXPECT_NE(log.find("Run the same command again to retry them"), std::string::npos) << log;
  // The closing message names each crashed run (row, lr or seed) and how its worker ended.
  const size_t named = log.find("\n  crashed: ");
  ASSERT_NE(named, std::string::npos) << log;
  EXPECT_NE(log.find("killed by signal 9", named), std::string::npos) << log;
  const int64_t kept = lines_in(out + "/runs.jsonl");
  EXPECT_LT(kept, 20);
  std::string command = std::string(NOS_EXECUTABLE);
  for (const std::string& a : args) command += " " + a;
  const auto again = run_command(command);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(lines_in(out + "/runs.jsonl"), 20);
  EXPECT_NE(again.output.find(std::to_string(20 - kept) + " runs in"), std::string::npos) << again.output;
}

// The demo search's shape on an image task, end to end through `nos worker` processes: children trained on the
// data folder given in the config, rows stored, the resolved config with its dtype, a leaderboard printed.
TEST_F(Processes, ASearchOnAnImageTaskRunsThroughWorkerProcesses) {
  const std::string config = dir_.file("search.yaml",
                                       "proposer: controller\n"
                                       "budget: 6\n"
                                       "batch_size: 3\n"
                                       "workers: 2\n"
                                       "task:\n"
                                       "  name: fmnist-logreg\n"
                                       "  epochs: 1\n"
                                       "  train_size: 600\n"
                                       "  validation_size: 200\n"
                                       "  lr: 0.01\n"
                                       "  time_limit: 60\n"
                                       "  data_dir: " + dir_.path() + "\n"
                                       "  cache_dir: " + dir_.path() + "/cache\n");
  const std::string run = dir_.path() + "/run";
  const auto result = run_command(std::string(NOS_EXECUTABLE) + " search --config " + config + " --run-dir " + run);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("search done: 6 children"), std::string::npos) << result.output;
  search::Store store(search::store_path(run), search::Store::Mode::kReadOnly);
  const std::vector<search::Evaluation> rows = store.all();
  ASSERT_EQ(rows.size(), 6u);
  int trained = 0;
  for (const search::Evaluation& e : rows) {
    if (e.status == tasks::Status::kOk && !e.cached) {
      ++trained;
      EXPECT_GE(e.worker, 0) << e.canonical;
      EXPECT_GT(e.val_acc, 0.0) << e.canonical;
    }
  }
  EXPECT_GT(trained, 0) << "no child trained to the end";
  const std::string resolved = read(search::config_path(run));
  EXPECT_NE(resolved.find("  dtype: float32\n"), std::string::npos) << resolved;
  EXPECT_NE(resolved.find("  cache_dir: "), std::string::npos) << resolved;
  EXPECT_TRUE(std::filesystem::exists(run + "/workers.log"));
}


// The funnel through `nos search` (README, "Funnel selection"): after the search its stage runs, the stage's table
// is printed with the gate of each rule and the baseline row, `nos top` shows the same stage, `--json` its rows, and
// `nos top --plot` draws funnel.png beside funnel.dat.
TEST_F(Processes, ASearchWithAFunnelPrintsStoresAndPlotsItsStage) {
  const std::string config = dir_.file("funnel.yaml",
                                       "proposer: random\n"
                                       "budget: 6\n"
                                       "batch_size: 6\n"
                                       "workers: 2\n"
                                       "seed: 2\n"
                                       "prefilter:\n"
                                       "  enabled: false\n"
                                       "task:\n"
                                       "  name: fmnist-logreg\n"
                                       "  epochs: 1\n"
                                       "  train_size: 600\n"
                                       "  validation_size: 200\n"
                                       "  lr: 0.01\n"
                                       "  time_limit: 60\n"
                                       "  data_dir: " + dir_.path() + "\n"
                                       "  cache_dir: " + dir_.path() + "/cache\n"
                                       "funnel:\n"
                                       "  - {name: wider, top_k: 2, seeds: 2, protocol: fixed, lr: 0.01, "
                                       "baseline: sgd, train_size: 600, validation_size: 200}\n");
  const std::string run = dir_.path() + "/run";
  const auto result =
      run_command(std::string(NOS_EXECUTABLE) + " search --config " + config + " --run-dir " + run + " --top 0");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("[funnel] stage 1/1 'wider': 2 rules + sgd on fmnist-logreg"), std::string::npos)
      << result.output;
  const size_t table = result.output.find("funnel stage 1 'wider':\n");
  ASSERT_NE(table, std::string::npos) << result.output;
  const std::string printed = result.output.substr(table);
  EXPECT_NE(printed.find("gate"), std::string::npos) << printed;
  EXPECT_NE(printed.find("baseline           sgd"), std::string::npos) << printed;
  const std::vector<search::FunnelRow> rows = search::funnel_rows(run);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows[2].baseline);
  EXPECT_EQ(rows[2].rule, "sgd");
  for (const search::FunnelRow& r : rows) {
    EXPECT_EQ(r.seeds_ok, 2) << r.rule;
    // Each row of the table names its rule and the gate it passed or failed.
    if (!r.baseline) {
      EXPECT_NE(printed.find((r.passed ? "passed" : "failed") + std::string(" (> ")), std::string::npos) << printed;
      EXPECT_NE(printed.find(r.rule), std::string::npos) << printed;
    }
  }
  const auto top = run_command(std::string(NOS_EXECUTABLE) + " top " + run);
  ASSERT_EQ(top.exit_code, 0) << top.output;
  const size_t shown = top.output.find("funnel stage 1 'wider':\n");
  ASSERT_NE(shown, std::string::npos) << top.output;
  EXPECT_EQ(top.output.substr(shown), printed);
  const auto json = run_command(std::string(NOS_EXECUTABLE) + " top " + run + " --json");
  ASSERT_EQ(json.exit_code, 0) << json.output;
  EXPECT_NE(json.output.find("\"stage_name\":\"wider\""), std::string::npos) << json.output;
  const std::string plots = dir_.path() + "/plots";
  const auto plot = run_command(std::string(NOS_EXECUTABLE) + " top --plot " + plots + " " + run);
  ASSERT_EQ(plot.exit_code, 0) << plot.output;
  // funnel.dat: a block per stage, one line per rule with its mean and sd.
  const std::string dat = read(plots + "/funnel.dat");
  for (const search::FunnelRow& r : rows) EXPECT_NE(dat.find(r.rule), std::string::npos) << dat;
  if (std::system("command -v gnuplot > /dev/null 2>&1") == 0) {
    ASSERT_TRUE(std::filesystem::exists(plots + "/funnel.png")) << plot.output;
    EXPECT_GT(std::filesystem::file_size(plots + "/funnel.png"), 1000u) << plot.output;
    EXPECT_NE(plot.output.find("funnel.png"), std::string::npos) << plot.output;
  } else {
    EXPECT_FALSE(std::filesystem::exists(plots + "/funnel.png"));
  }
}

}  // namespace
}  // namespace nos::cli
