// Worker processes and the `nos` executable: crashes and timeouts are results, kill -9 and Ctrl-C then --resume lose
// and duplicate nothing, `nos top` reads a run, config mistakes exit 2 naming the key.
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "dispatch/mpi.h"
#include "search/search.h"
#include "tests/search/helpers.h"
#include "tests/temp_dir.h"

namespace nos::search {
namespace {

using fixtures::analytic_config;
using fixtures::children_of;
using fixtures::running;
using fixtures::run_command;
using fixtures::spawn_nos;
using fixtures::wait_exit_code;
using fixtures::CommandResult;
using dispatch::EvaluatorPool;
using dispatch::Job;
using dispatch::JobResult;
using dispatch::ProcessPool;
using dispatch::ProcessPoolOptions;

Job analytic_job(int64_t id, const std::string& rule, const std::string& debug = "") {
  Job job;
  job.id = id;
  job.request.rule = rule;
  job.request.task = "rosenbrock";
  job.request.steps = 100;
  job.request.lr = 1e-3;
  job.debug = debug;
  return job;
}

std::map<int64_t, JobResult> collect(EvaluatorPool& pool, size_t count, double timeout_seconds) {
  std::map<int64_t, JobResult> results;
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  while (results.size() < count && std::chrono::steady_clock::now() < until) {
    for (JobResult& r : pool.wait(0.2)) results.emplace(r.id, std::move(r));
  }
  return results;
}

ProcessPoolOptions pool_options(int workers, const std::string& log) {
  ProcessPoolOptions o;
  o.executable = NOS_EXECUTABLE;
  o.args = {"worker", "--threads", "1"};
  o.workers = workers;
  o.log_path = log;
  o.kill_grace = 0.5;
  return o;
}

TEST(ProcessPool, EvaluatesInWorkerProcesses) {
  testing::TempDir dir;
  ProcessPool pool(pool_options(2, dir.file("workers.log")));
  for (int i = 0; i < 6; ++i) pool.submit(analytic_job(i, i % 2 ? "g" : "adam"));
  const std::map<int64_t, JobResult> results = collect(pool, 6, 60);
  ASSERT_EQ(results.size(), 6u);
  for (const auto& [id, r] : results) {
    EXPECT_EQ(r.record.status, tasks::Status::kOk) << r.record.message;
    EXPECT_GT(r.record.reward, 0);
    EXPECT_EQ(r.record.canonical, id % 2 ? "g" : "adam");
  }
  EXPECT_EQ(results.at(1).record.reward, results.at(3).record.reward);  // deterministic
  EXPECT_EQ(pool.starts(), 2);
  EXPECT_EQ(pool.outstanding(), 0);
}

TEST(ProcessPool, AWorkerCrashIsAResultAndTheWorkerIsRestarted) {
  testing::TempDir dir;
  ProcessPool pool(pool_options(1, dir.file("workers.log")));
  pool.submit(analytic_job(0, "g", "abort"));
  pool.submit(analytic_job(1, "g"));
  const std::map<int64_t, JobResult> results = collect(pool, 2, 60);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results.at(0).record.status, tasks::Status::kCrashed);
  EXPECT_EQ(results.at(0).record.reward, 0);
  EXPECT_NE(results.at(0).record.message.find("worker 0 died while evaluating this child (killed by signal 6"),
            std::string::npos)
      << results.at(0).record.message;
  EXPECT_EQ(results.at(1).record.status, tasks::Status::kOk);
  EXPECT_EQ(pool.starts(), 2);
}

TEST(ProcessPool, AChildPastItsTimeLimitIsKilledAndRecordedAsTimeout) {
  testing::TempDir dir;
  ProcessPool pool(pool_options(1, dir.file("workers.log")));
  Job hang = analytic_job(0, "g", "hang");
  hang.request.time_limit = 0.5;
  pool.submit(hang);
  pool.submit(analytic_job(1, "g"));
  const auto start = std::chrono::steady_clock::now();
  const std::map<int64_t, JobResult> results = collect(pool, 2, 60);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results.at(0).record.status, tasks::Status::kTimeout);
  EXPECT_NE(results.at(0).record.message.find("time limit (0.5 s + 0.5 s grace)"), std::string::npos)
      << results.at(0).record.message;
  EXPECT_GE(results.at(0).record.seconds, 1.0);
  EXPECT_EQ(results.at(1).record.status, tasks::Status::kOk);
  EXPECT_LT(seconds, 30);
}

TEST(ProcessPool, AWorkerRefusingARequestReportsAnError) {
  testing::TempDir dir;
  ProcessPool pool(pool_options(1, dir.file("workers.log")));
  Job job = analytic_job(0, "g");
  job.request.device = "tpu";
  pool.submit(job);
  const std::map<int64_t, JobResult> results = collect(pool, 1, 60);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results.at(0).record.status, tasks::Status::kError);
  EXPECT_NE(results.at(0).record.message.find("tpu"), std::string::npos);
}

TEST(Search, SurvivesACrashingAndAHangingChild) {
  testing::TempDir dir;
  SearchConfig config = analytic_config("random");
  config.budget = 16;
  config.task.time_limit = 0.5;
  config.task.kill_grace = 0.5;
  config.prefilter.enabled = false;
  SearchRuntime runtime;
  runtime.run_dir = dir.path();
  runtime.worker_executable = NOS_EXECUTABLE;
  runtime.debug_flag = [](int64_t batch, int64_t slot, const std::string&) -> std::string {
    if (batch == 0 && slot == 1) return "abort";
    if (batch == 0 && slot == 2) return "hang";
    return "";
  };
  const SearchResult result = start_search(config, runtime);
  EXPECT_FALSE(result.interrupted);
  EXPECT_EQ(result.children, 16);
  Store store(store_path(dir.path()), Store::Mode::kReadOnly);
  const std::map<int64_t, Evaluation> batch = store.batch(0);
  EXPECT_EQ(batch.at(1).status, tasks::Status::kCrashed);
  EXPECT_EQ(batch.at(1).reward, 0);
  EXPECT_EQ(batch.at(2).status, tasks::Status::kTimeout);
  EXPECT_EQ(store.all().size(), 16u);
  const StoreCounts counts = store.counts();
  EXPECT_EQ(counts.by_status.at("crashed"), 1);
  EXPECT_EQ(counts.by_status.at("timeout"), 1);
}

// ---------------------------------------------------------------------------------------------------------------
// the executable: kill -9, Ctrl-C, --resume, top, config errors

// A controller search on Rosenbrock slow enough (a few seconds) to be interrupted midway.
const char* kResumeConfig = R"(proposer: controller
budget: 96
batch_size: 8
workers: 2
seed: 5
task:
  name: rosenbrock
  steps: 1500
  lr: 0.001
prefilter:
  enabled: true
  steps: 100
controller:
  hidden: 16
  lr: 0.05
)";

using Row = std::tuple<int64_t, int64_t, std::string, tasks::Status, double, bool>;

std::vector<Row> rows_of(const std::string& run_dir) {
  Store store(store_path(run_dir), Store::Mode::kReadOnly);
  std::vector<Row> rows;
  for (const Evaluation& e : store.all()) rows.emplace_back(e.batch, e.slot, e.tokens, e.status, e.reward, e.cached);
  return rows;
}

int64_t stored_rows(const std::string& run_dir) {
  try {
    Store store(store_path(run_dir), Store::Mode::kReadOnly);
    return store.counts().total;
  } catch (const UserError&) {
    return 0;
  }
}

// Starts `nos search` on the config and interrupts it with `signal` once `rows` children are stored.
int interrupt_after(const std::string& config, const std::string& run_dir, int64_t rows, int signal,
                    const std::string& log, int64_t* stored_at_signal) {
  const pid_t pid = spawn_nos({"search", "--config", config, "--run-dir", run_dir}, log);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (stored_rows(run_dir) < rows && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, signal);
  *stored_at_signal = stored_rows(run_dir);
  return wait_exit_code(pid);
}

using fixtures::read;

// CSV text without each line's last column (progress.csv's wall-clock seconds differ between runs).
std::string without_last_column(const std::string& csv) {
  std::istringstream in(csv);
  std::string line, out;
  while (std::getline(in, line)) out += line.substr(0, line.rfind(',')) + "\n";
  return out;
}

// A search killed with -9 takes its workers with it even while they train (parent-death signal): a busy worker
// would otherwise finish its child (seconds here) before it saw its input close.
// This process adopts the orphans (a subreaper), so what happens to them does not depend on the machine's init
// (some kill orphans themselves).
TEST(Resume, AKilledSearchTakesItsBusyWorkersWithIt) {
  testing::TempDir dir;
  // sgd and momentum at lr 1e-7 on Rosenbrock: 10^6 steps (over a minute) that neither diverge nor converge.
  const std::string config = dir.file("config.yaml",
                                      "proposer: evolution\nbudget: 2\nbatch_size: 2\nworkers: 2\nseed: 3\n"
                                      "task:\n  name: rosenbrock\n  steps: 1000000\n  lr: 0.0000001\n"
                                      "prefilter:\n  enabled: false\nevolution:\n  warm_start: [sgd, momentum]\n");
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  const pid_t pid = spawn_nos({"search", "--config", config, "--run-dir", dir.path() + "/run"}, dir.file("log"));
  std::vector<pid_t> workers;
  const auto started = std::chrono::steady_clock::now();
  while (workers.empty() && std::chrono::steady_clock::now() < started + std::chrono::seconds(30)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    workers = children_of(pid);
  }
  ASSERT_FALSE(workers.empty()) << "the search's worker processes were not found";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a child of over a minute is under way
  ASSERT_EQ(stored_rows(dir.path() + "/run"), 0) << "a child finished already; the test proves less";
  kill(pid, SIGKILL);
  EXPECT_EQ(wait_exit_code(pid), 128 + SIGKILL);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  auto any_running = [&] { return std::any_of(workers.begin(), workers.end(), running); };
  while (any_running() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(any_running()) << "a busy worker outlived the killed search";
  for (pid_t w : workers) {
    kill(w, SIGKILL);
    waitpid(w, nullptr, 0);
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

// --fec-cache sets the equivalence cache, on a start and on a resume (it changes no reward, so a resume may change
// it): a PATH makes the shared file, and config.yaml records what the run used.
TEST(Resume, FecCacheFlagStartsAndChangesOnResume) {
  testing::TempDir dir;
  const std::string config = dir.file("config.yaml",
                                      "proposer: random\nbudget: 8\nbatch_size: 4\nworkers: 1\nseed: 2\n"
                                      "task:\n  name: rosenbrock\n  steps: 100\n  lr: 0.001\n");
  const std::string run = dir.path() + "/run";
  const std::string cache = dir.path() + "/fec.db";
  fixtures::CommandResult r = run_command(std::string(NOS_EXECUTABLE) + " search --config " + config + " --run-dir " + run +
                                " --fec-cache " + cache + " --top 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(cache));
  EXPECT_NE(read(run + "/config.yaml").find("fec_cache: \"" + cache + "\""), std::string::npos)
      << read(run + "/config.yaml");
  r = run_command(std::string(NOS_EXECUTABLE) + " search --resume " + run + " --budget 12 --fec-cache none --top 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(read(run + "/config.yaml").find("fec_cache: \"none\""), std::string::npos) << read(run + "/config.yaml");
  EXPECT_EQ(stored_rows(run), 12);
  r = run_command(std::string(NOS_EXECUTABLE) + " search --resume " + run + " --fec-cache ''");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--fec-cache"), std::string::npos) << r.output;
  // The training recipe is fixed for a run; on an analytic objective it is refused from the start.
  r = run_command(std::string(NOS_EXECUTABLE) + " search --resume " + run + " --schedule cosine");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--schedule cannot change on --resume"), std::string::npos) << r.output;
  r = run_command(std::string(NOS_EXECUTABLE) + " search --config " + config + " --run-dir " + dir.path() +
                  "/clipped --clip-norm 1 --top 0");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("analytic objective"), std::string::npos) << r.output;
}

TEST(Resume, KillNineThenResumeGivesTheUninterruptedRunsRows) {
  testing::TempDir dir;
  const std::string config = dir.file("config.yaml", kResumeConfig);
  const std::string reference = dir.path() + "/reference";
  const CommandResult full = run_command(std::string(NOS_EXECUTABLE) + " search --config " + config +
                                         " --run-dir " + reference + " --top 3");
  ASSERT_EQ(full.exit_code, 0) << full.output;
  const std::vector<Row> expected = rows_of(reference);
  ASSERT_EQ(expected.size(), 96u);

  const std::string killed = dir.path() + "/killed";
  int64_t at_kill = 0;
  EXPECT_EQ(interrupt_after(config, killed, 20, SIGKILL, dir.file("killed.log"), &at_kill), 128 + SIGKILL);
  EXPECT_GE(at_kill, 20);
  EXPECT_LT(at_kill, 96) << "the search finished before it could be killed; the test proves less";

  const CommandResult resumed = run_command(std::string(NOS_EXECUTABLE) + " search --resume " + killed);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(rows_of(killed), expected);  // same (batch, slot, tokens, status, reward, cached), none twice

  // A finished run resumes to nothing new.
  const CommandResult again = run_command(std::string(NOS_EXECUTABLE) + " search --resume " + killed);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(rows_of(killed), expected);
  // The CSVs hold each batch and each child once.
  const std::string progress = read(killed + "/progress.csv");
  EXPECT_EQ(std::count(progress.begin(), progress.end(), '\n'), 1 + 12);
  EXPECT_EQ(without_last_column(progress), without_last_column(read(reference + "/progress.csv")));
  const std::string best = read(killed + "/best.csv");
  EXPECT_EQ(best, read(reference + "/best.csv"));
}

// kill -9 at five random moments of one search, each followed by --resume (or, for a kill before the run existed,
// the same command), gives the store, progress.csv and best.csv of the uninterrupted run (issue 34: best.csv held
// 42-44 lines for 40 children after a resume). The moments are drawn from a fixed seed: a number of stored children
// to wait for, then up to 40 ms more, so kills land mid-batch, between batches and at the start.
TEST(Resume, KillNineAtFiveRandomMomentsThenResumeGivesTheUninterruptedRun) {
  testing::TempDir dir;
  const std::string config = dir.file("config.yaml", kResumeConfig);
  const std::string reference = dir.path() + "/reference";
  const CommandResult full = run_command(std::string(NOS_EXECUTABLE) + " search --config " + config +
                                         " --run-dir " + reference + " --top 0");
  ASSERT_EQ(full.exit_code, 0) << full.output;
  const std::vector<Row> expected = rows_of(reference);
  ASSERT_EQ(expected.size(), 96u);

  std::mt19937 rng(34);
  std::vector<int64_t> moments = {0};  // one kill at the very start
  std::uniform_int_distribution<int64_t> rows(1, 90);
  while (moments.size() < 5) moments.push_back(rows(rng));
  std::sort(moments.begin(), moments.end());
  std::uniform_int_distribution<int> extra_ms(0, 40);
  const std::string run = dir.path() + "/killed";
  int killed_midway = 0;
  for (size_t i = 0; i < moments.size(); ++i) {
    const bool exists = std::filesystem::exists(run + "/search.db");
    const std::vector<std::string> args =
        exists ? std::vector<std::string>{"search", "--resume", run, "--top", "0"}
               : std::vector<std::string>{"search", "--config", config, "--run-dir", run, "--top", "0"};
    const pid_t pid = spawn_nos(args, dir.file("kill" + std::to_string(i) + ".log"));
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (stored_rows(run) < moments[i] && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(extra_ms(rng)));
    kill(pid, SIGKILL);
    const int code = wait_exit_code(pid);
    killed_midway += code == 128 + SIGKILL;
    SCOPED_TRACE("kill " + std::to_string(i) + " at " + std::to_string(moments[i]) + " children: " +
                 read(dir.path() + "/kill" + std::to_string(i) + ".log"));
    EXPECT_TRUE(code == 128 + SIGKILL || code == 0) << code;
  }
  EXPECT_GE(killed_midway, 4) << "the search finished before most kills; the test proves less";
  const bool exists = std::filesystem::exists(run + "/search.db");
  const CommandResult resumed = run_command(
      std::string(NOS_EXECUTABLE) + (exists ? " search --resume " + run : " search --config " + config + " --run-dir " + run) +
      " --top 0");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(rows_of(run), expected);
  EXPECT_EQ(read(run + "/best.csv"), read(reference + "/best.csv"));
  EXPECT_EQ(without_last_column(read(run + "/progress.csv")), without_last_column(read(reference + "/progress.csv")));
}

TEST(Resume, CtrlCStopsCleanlyWithExit130AndResumeCompletes) {
  testing::TempDir dir;
  const std::string config = dir.file("config.yaml", kResumeConfig);
  const std::string run = dir.path() + "/run";
  int64_t at_signal = 0;
  EXPECT_EQ(interrupt_after(config, run, 10, SIGINT, dir.file("run.log"), &at_signal), 130);
  const std::string log = read(dir.path() + "/run.log");
  EXPECT_NE(log.find("continue with: nos search --resume " + run), std::string::npos) << log;
  const CommandResult resumed = run_command(std::string(NOS_EXECUTABLE) + " search --resume " + run + " --top 0");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  const std::vector<Row> rows = rows_of(run);
  EXPECT_EQ(rows.size(), 96u);
  std::set<std::pair<int64_t, int64_t>> slots;
  for (const Row& r : rows) slots.emplace(std::get<0>(r), std::get<1>(r));
  EXPECT_EQ(slots.size(), 96u);
}

TEST(Top, PrintsTheLeaderboardOfARun) {
  testing::TempDir dir;
  SearchConfig config = analytic_config("random");
  config.budget = 24;
  SearchRuntime runtime;
  runtime.run_dir = dir.path() + "/run";
  start_search(config, runtime);
  const CommandResult top = run_command(std::string(NOS_EXECUTABLE) + " top " + runtime.run_dir + " -n 3");
  ASSERT_EQ(top.exit_code, 0) << top.output;
  Store store(store_path(runtime.run_dir), Store::Mode::kReadOnly);
  const std::vector<Leader> leaders = store.leaderboard(3);
  ASSERT_FALSE(leaders.empty());
  EXPECT_NE(top.output.find("random on rosenbrock, 24/24 children"), std::string::npos) << top.output;
  EXPECT_NE(top.output.find("rank  reward"), std::string::npos) << top.output;
  EXPECT_NE(top.output.find(leaders[0].canonical + "\n"), std::string::npos) << top.output;
  // The run line, cache hits, mean reward by quarter, repeats, the header, the rules.
  EXPECT_EQ(std::count(top.output.begin(), top.output.end(), '\n'), 4 + 1 + static_cast<long>(leaders.size()));
  EXPECT_NE(top.output.find("  repeats (a rule proposed earlier in the run): "), std::string::npos) << top.output;
  // Two runs side by side: a comparison table first.
  const CommandResult both = run_command(std::string(NOS_EXECUTABLE) + " top " + runtime.run_dir + " " +
                                         runtime.run_dir + " -n 1");
  EXPECT_EQ(both.exit_code, 0);
  EXPECT_EQ(both.output.rfind("proposer    children", 0), 0u) << both.output;
  EXPECT_EQ(run_command(std::string(NOS_EXECUTABLE) + " top " + dir.path() + "/nothing").exit_code, 2);
}

TEST(Cli, ConfigMistakesExitTwoNamingTheKey) {
  testing::TempDir dir;
  const std::string unknown = dir.file("unknown.yaml", "budget: 8\ntask:\n  name: rosenbrock\n  epoch: 3\n");
  CommandResult r = run_command(std::string(NOS_EXECUTABLE) + " search --config " + unknown);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find(unknown + ":4: key 'task.epoch': unknown key"), std::string::npos) << r.output;
  const std::string bad = dir.file("bad.yaml", "controller:\n  algorithm: a2c\n");
  r = run_command(std::string(NOS_EXECUTABLE) + " search --config " + bad);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("key 'controller.algorithm': expected one of reinforce, ppo, got 'a2c'"), std::string::npos)
      << r.output;
  r = run_command(std::string(NOS_EXECUTABLE) + " search --budget zero --run-dir " + dir.path() + "/x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--budget: expected a whole number >= 1, got 'zero'"), std::string::npos) << r.output;
  r = run_command(std::string(NOS_EXECUTABLE) + " search --resume " + dir.path() + "/none");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("no search database here"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace nos::search

// --- MPI (issue 20): mpirun on this machine, ranks oversubscribed ------------------------------------------------

namespace nos::search {
namespace {

#ifdef NOS_MPIEXEC
// mpirun as CI runs it: as root, more ranks than cores, no single-copy shared memory (it fails in containers), and
// idle ranks yielding the core.
std::string mpirun(int ranks) {
  return std::string("env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                     "OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_mpi_yield_when_idle=1 ") +
         NOS_MPIEXEC + " --oversubscribe -np " + std::to_string(ranks) + " " + NOS_EXECUTABLE;
}
#endif

const char* kMpiConfig = R"(proposer: random
budget: 24
batch_size: 6
workers: 2
seed: 3
task:
  name: rosenbrock
  steps: 400
  lr: 0.001
)";

// A tiny Fashion-MNIST folder (the loader reads uncompressed IDX twins too): 12×12 images of 4 classes told apart by
// which quadrant is bright, 256 for training and 64 for test.
std::string write_tiny_fmnist(const std::string& dir) {
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, uint32_t magic, std::vector<uint32_t> dims, int n, uint32_t seed) {
    std::string bytes;
    for (int i = 3; i >= 0; --i) bytes += static_cast<char>((magic >> (8 * i)) & 0xff);
    dims.insert(dims.begin(), static_cast<uint32_t>(n));
    for (uint32_t d : dims) {
      for (int i = 3; i >= 0; --i) bytes += static_cast<char>((d >> (8 * i)) & 0xff);
    }
    uint32_t state = seed;
    auto next = [&] { return state = state * 1664525u + 1013904223u; };
    for (int k = 0; k < n; ++k) {
      const uint32_t label = (k * 7 + seed) % 4;
      if (dims.size() == 1) {
        bytes += static_cast<char>(label);
        continue;
      }
      for (uint32_t y = 0; y < 12; ++y) {
        for (uint32_t x = 0; x < 12; ++x) {
          const bool bright = (y / 6) * 2 + (x / 6) == label;
          bytes += static_cast<char>((next() >> 24) % 90 + (bright ? 120 : 0));
        }
      }
    }
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
  };
  write("train-images-idx3-ubyte", 0x803, {12, 12}, 256, 1);
  write("train-labels-idx1-ubyte", 0x801, {}, 256, 1);
  write("t10k-images-idx3-ubyte", 0x803, {12, 12}, 64, 2);
  write("t10k-labels-idx1-ubyte", 0x801, {}, 64, 2);
  return dir;
}

// Every stored field but timings and the worker: as text, one line per child.
std::vector<std::string> full_rows_of(const std::string& run_dir) {
  Store store(store_path(run_dir), Store::Mode::kReadOnly);
  std::vector<std::string> rows;
  for (const Evaluation& e : store.all()) {
    std::ostringstream row;
    row.precision(17);
    row << e.batch << " " << e.slot << " " << e.tokens << " | " << e.canonical << " | " << e.status << " | "
        << e.message << " | " << e.reward << " " << e.hurdle_acc << " " << e.val_acc << " " << e.test_acc << " "
        << e.lr << " " << e.cached;
    rows.push_back(row.str());
  }
  return rows;
}

// The issue's test: a search whose workers train 4 children at once as one population (float64 children of the
// full lr grid, a hurdle, a cosine schedule with a warm-up — every population once crashed on it, issue 33 — worker
// processes speaking the population protocol) stores the rows of the same search
// with population 1: the same rules, statuses, messages, rewards, accuracies and lrs in the same slots. A population
// sums in another order than a solo run (one matrix product for K children), so float64 results agree to rounding,
// not bit for bit; a rule that amplifies rounding (log|g|, a division or sign of a gradient near 0) can end
// elsewhere. The search space here has none of those, so every row must be equal on any CPU.
TEST(Population, ASearchWithPopulationFourStoresTheRowsOfPopulationOne) {
  testing::TempDir dir;
  const std::string data = write_tiny_fmnist(dir.path() + "/fmnist");
  const std::string config = dir.file("config.yaml", "proposer: random\nbudget: 16\nbatch_size: 8\nworkers: 2\n"
                                                     "seed: 5\nprefilter:\n  enabled: false\n"
                                                     "space:\n  operands: [g, g2, m, v, adam, rmsprop, noise, 1, 2]\n"
                                                     "  unary: [id, neg, exp, drop(0.3)]\n"
                                                     "  binary: [add, sub, mul, keep]\n"
                                                     "hurdle:\n  enabled: true\n  min_children: 4\n"
                                                     "task:\n  name: fmnist-mlp\n  epochs: 2\n  batch_size: 32\n"
                                                     "  lr_search: full\n  lr_grid: [0.001, 0.1, 10]\n"
                                                     "  schedule: {name: cosine, warmup: 0.1}\n"
                                                     "  validation_size: 64\n  dtype: float64\n  data_dir: " +
                                                         data + "\n");
  const std::string solo = dir.path() + "/solo", together = dir.path() + "/together";
  const CommandResult a = run_command(std::string(NOS_EXECUTABLE) + " search --config " + config + " --run-dir " +
                                      solo + " --top 0");
  ASSERT_EQ(a.exit_code, 0) << a.output;
  const CommandResult b = run_command(std::string(NOS_EXECUTABLE) + " search --config " + config + " --run-dir " +
                                      together + " --population 4 --top 0");
  ASSERT_EQ(b.exit_code, 0) << b.output;
  const std::vector<std::string> expected = full_rows_of(solo);
  ASSERT_EQ(expected.size(), 16u);
  int trained = 0;
  for (const std::string& row : expected) trained += row.find("| ok |") != std::string::npos;
  EXPECT_GT(trained, 2);  // children that trained, not only invalid or diverged ones
  EXPECT_EQ(full_rows_of(together), expected);
  // Trained as populations: a population's children share its wall time equally (their grids are all 3 lrs), so
  // children of one population record the same seconds; solo children do not.
  auto shared_seconds = [](const std::string& run_dir) {
    Store store(store_path(run_dir), Store::Mode::kReadOnly);
    std::map<double, int> seen;
    int shared = 0;
    for (const Evaluation& e : store.all()) {
      if (e.worker >= 0 && e.seconds > 0) shared += seen[e.seconds]++ > 0;
    }
    return shared;
  };
  EXPECT_GT(shared_seconds(together), 0);
  EXPECT_EQ(shared_seconds(solo), 0);
  // The population is a runtime setting: recorded, and a resume may change it.
  EXPECT_NE(read(together + "/config.yaml").find("  population: 4\n"), std::string::npos);
  const CommandResult c = run_command(std::string(NOS_EXECUTABLE) + " search --resume " + together +
                                      " --population auto --budget 24 --top 0");
  EXPECT_EQ(c.exit_code, 0) << c.output;
}

// The processes (read from /proc/*/cmdline) with `argument` among their arguments.
int processes_with_argument(const std::string& argument) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string arg;
    while (std::getline(in, arg, '\0')) {
      if (arg == argument) {
        ++count;
        break;
      }
    }
  }
  return count;
}

std::set<int> workers_of(const std::string& run_dir) {
  Store store(store_path(run_dir), Store::Mode::kReadOnly);
  std::set<int> workers;
  for (const Evaluation& e : store.all()) {
    if (e.worker >= 0) workers.insert(e.worker);
  }
  return workers;
}

// The same search on 2 local workers and under mpirun with 3 ranks (2 evaluating) stores the same children: the same
// rules, rewards, statuses and cache hits in the same slots; the workers recorded are the evaluating ranks. With
// --rank0-evaluates rank 0 evaluates too.
TEST(Mpi, SearchOnThreeRanksStoresTheRowsOfLocalWorkers) {
#ifndef NOS_MPIEXEC
  GTEST_SKIP() << "nos was built without MPI (CMake found none): nothing here can run";
#else
  ASSERT_TRUE(dispatch::mpi_built());
  testing::TempDir dir;
  const std::string config = dir.file("config.yaml", kMpiConfig);
  const std::string local = dir.path() + "/local";
  const CommandResult l = run_command(std::string(NOS_EXECUTABLE) + " search --config " + config + " --run-dir " +
                                      local + " --top 0");
  ASSERT_EQ(l.exit_code, 0) << l.output;
  const std::string mpi = dir.path() + "/mpi";
  const CommandResult m = run_command(mpirun(3) + " search --config " + config + " --run-dir " + mpi + " --top 0");
  ASSERT_EQ(m.exit_code, 0) << m.output;
  EXPECT_EQ(rows_of(mpi), rows_of(local));
  EXPECT_EQ(workers_of(mpi), (std::set<int>{1, 2})) << m.output;
  const std::string both = dir.path() + "/rank0";
  const CommandResult r = run_command(mpirun(2) + " search --config " + config + " --run-dir " + both +
                                      " --rank0-evaluates --top 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(rows_of(both), rows_of(local));
  EXPECT_EQ(workers_of(both), (std::set<int>{0, 1})) << r.output;
#endif
}

// A child that hangs under MPI costs its worker process, never the rank (README; issue 37): every child of this run
// outlasts task.time_limit, each is killed and stored as a timeout, the job finishes with exit 0 and leaves no
// process behind.
TEST(Mpi, HangingChildrenCostTheirWorkerNotTheRank) {
#ifndef NOS_MPIEXEC
  GTEST_SKIP() << "nos was built without MPI (CMake found none): nothing here can run";
#else
  testing::TempDir dir;
  const std::string config = dir.file("config.yaml", R"(proposer: random
budget: 6
batch_size: 6
workers: 2
seed: 3
task:
  name: rosenbrock
  steps: 50000000
  lr: 0.001
  time_limit: 0.3
  kill_grace: 0.3
prefilter:
  enabled: false
)");
  const std::string run = dir.path() + "/run";
  // Under timeout(1): children that were never stopped would run for minutes (exit 124 then).
  const CommandResult m =
      run_command("timeout -s KILL 60 " + mpirun(3) + " search --config " + config + " --run-dir " + run + " --top 0");
  ASSERT_EQ(m.exit_code, 0) << m.output;
  Store store(store_path(run), Store::Mode::kReadOnly);
  ASSERT_EQ(store.all().size(), 6u);
  int timeouts = 0;
  for (const Evaluation& e : store.all()) timeouts += e.status == tasks::Status::kTimeout;
  EXPECT_GE(timeouts, 4) << m.output;  // a rule may diverge (stop early) before its time is up
  EXPECT_EQ(processes_with_argument(run), 0);
#endif
}

// The `nos worker` processes below `root` (a process tree read from /proc).
std::vector<pid_t> workers_below(pid_t root) {
  std::vector<pid_t> found, frontier = {root};
  while (!frontier.empty()) {
    const pid_t p = frontier.back();
    frontier.pop_back();
    for (pid_t c : children_of(p)) {
      frontier.push_back(c);
      std::ifstream in("/proc/" + std::to_string(c) + "/cmdline", std::ios::binary);
      std::string program, command;
      std::getline(in, program, '\0');
      std::getline(in, command, '\0');
      if (command == "worker") found.push_back(c);
    }
  }
  return found;
}

// A child that crashes under MPI (its worker process killed with -9 while it trains) costs that process, never the
// rank (README; issue 37): the child is stored as crashed, the rank starts a new worker for the next child, and the
// job ends with exit 0, every child stored.
TEST(Mpi, ACrashingChildCostsItsWorkerNotTheRank) {
#ifndef NOS_MPIEXEC
  GTEST_SKIP() << "nos was built without MPI (CMake found none): nothing here can run";
#else
  testing::TempDir dir;
  const std::string config = dir.file("config.yaml", R"(proposer: random
budget: 4
batch_size: 4
workers: 2
seed: 3
task:
  name: rosenbrock
  steps: 50000000
  lr: 0.001
  time_limit: 1.5
  kill_grace: 0.3
prefilter:
  enabled: false
)");
  const std::string run = dir.path() + "/run";
  const std::string log = dir.path() + "/mpi.log";
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string command = "exec timeout -s KILL 60 " + mpirun(3) + " search --config " + config +
                                " --run-dir " + run + " --top 0 > " + log + " 2>&1";
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::vector<pid_t> workers = workers_below(pid);
  while (workers.size() < 2 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    workers = workers_below(pid);
  }
  ASSERT_EQ(workers.size(), 2u) << read(log);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // each worker has its first child by now
  kill(workers[0], SIGKILL);
  const int code = wait_exit_code(pid);
  ASSERT_EQ(code, 0) << read(log);
  Store store(store_path(run), Store::Mode::kReadOnly);
  ASSERT_EQ(store.all().size(), 4u);
  std::map<std::string, int> statuses;
  for (const Evaluation& e : store.all()) ++statuses[tasks::status_text(e.status)];
  EXPECT_EQ(statuses["crashed"], 1) << read(log);
  EXPECT_EQ(statuses["crashed"] + statuses["timeout"] + statuses["diverged"], 4) << read(log);
  EXPECT_EQ(processes_with_argument(run), 0);
#endif
}

// SIGTERM to mpirun (what Slurm sends at the time limit) midway: every rank exits, and mpirun ... --resume on another
// number of ranks stores the uninterrupted run's rows, none twice.
TEST(Mpi, TerminatedJobResumesToTheUninterruptedRows) {
#ifndef NOS_MPIEXEC
  GTEST_SKIP() << "nos was built without MPI (CMake found none): nothing here can run";
#else
  testing::TempDir dir;
  const std::string config = dir.file("config.yaml", kResumeConfig);
  const std::string reference = dir.path() + "/reference";
  const CommandResult full = run_command(std::string(NOS_EXECUTABLE) + " search --config " + config +
                                         " --run-dir " + reference + " --top 0");
  ASSERT_EQ(full.exit_code, 0) << full.output;
  const std::vector<Row> expected = rows_of(reference);
  const std::string run = dir.path() + "/run";
  const std::string log = dir.path() + "/mpi.log";
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string command = "exec " + mpirun(3) + " search --config " + config + " --run-dir " + run +
                                " --top 0 > " + log + " 2>&1";
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (stored_rows(run) < 20 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGTERM);
  const int code = wait_exit_code(pid);
  const int64_t at_term = stored_rows(run);
  // Rank 0 stopped cleanly: it says what is stored and how to continue (mpirun's own status is Open MPI's, 1, not
  // rank 0's 130: the README says so).
  EXPECT_NE(code, 0) << read(log);
  EXPECT_NE(read(log).find("interrupted: "), std::string::npos) << read(log);
  EXPECT_NE(read(log).find("continue with: nos search --resume " + run), std::string::npos) << read(log);
  EXPECT_LT(at_term, 96) << "the search finished before it was stopped; the test proves less";
  // No rank and no worker of the job is left: each nos process under the run folder has exited.
  EXPECT_EQ(processes_with_argument(run), 0);
  // Resumed on another number of ranks (2: one evaluating rank instead of two): the same rows.
  const CommandResult resumed = run_command(mpirun(2) + " search --resume " + run + " --top 0");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(rows_of(run), expected);
#endif
}

// results.csv without its seconds column (wall time differs between runs).
std::string without_seconds(const std::string& csv) {
  std::istringstream in(csv);
  std::string line, out;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::string field;
    bool quoted = false;
    for (char c : line) {
      if (c == '"') quoted = !quoted;
      if (c == ',' && !quoted) {
        fields.push_back(field);
        field.clear();
      } else {
        field += c;
      }
    }
    fields.push_back(field);
    fields.erase(fields.end() - 2);  // ..., seconds, status
    for (size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + fields[i];
    out += "\n";
  }
  return out;
}

// nos compare under mpirun: the runs go to the ranks and the report's results are those of local workers.
TEST(Mpi, CompareOnThreeRanksWritesTheResultsOfLocalWorkers) {
#ifndef NOS_MPIEXEC
  GTEST_SKIP() << "nos was built without MPI (CMake found none): nothing here can run";
#else
  const std::string fmnist = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(fmnist + "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST is not installed at " << fmnist << " (scripts/setup.sh installs it)";
  }
  testing::TempDir dir;
  const std::string flags = " compare --rules adam,sgd --no-native --task fmnist-logreg --epochs 2 --seeds 2 "
                            "--lr-grid 0.01,0.1 --train-size 512 --validation-size 256 --threads 1 --out ";
  const CommandResult local = run_command(std::string(NOS_EXECUTABLE) + flags + dir.path() + "/local");
  ASSERT_EQ(local.exit_code, 0) << local.output;
  const CommandResult mpi = run_command(mpirun(3) + flags + dir.path() + "/mpi");
  ASSERT_EQ(mpi.exit_code, 0) << mpi.output;
  EXPECT_NE(mpi.output.find("(8 runs in"), std::string::npos) << mpi.output;
  const std::string expected = without_seconds(read(dir.path() + "/local/results.csv"));
  EXPECT_EQ(std::count(expected.begin(), expected.end(), '\n'), 1 + 2 * 2 * 2);
  EXPECT_EQ(without_seconds(read(dir.path() + "/mpi/results.csv")), expected);
  // NOS_MPI_DATA_DIR gives the serving ranks their own data folder (here one that does not exist: their runs fail
  // naming it, while rank 0 found its own).
  const CommandResult moved = run_command("env NOS_MPI_DATA_DIR=fmnist=/nonexistent-rank-data " + mpirun(2) + flags +
                                          dir.path() + "/moved");
  EXPECT_NE(moved.exit_code, 0) << moved.output;
  EXPECT_NE(moved.output.find("/nonexistent-rank-data"), std::string::npos) << moved.output;
#endif
}

// The build without MPI, or a search started by a launcher it cannot join, says so (exit 2); --rank0-evaluates
// outside mpirun is a mistake.
TEST(Mpi, RankZeroFlagOutsideMpiIsAUserError) {
  testing::TempDir dir;
  const std::string config = dir.file("config.yaml", kMpiConfig);
  const CommandResult r = run_command(std::string(NOS_EXECUTABLE) + " search --config " + config + " --run-dir " +
                                      dir.path() + "/run --rank0-evaluates --top 0");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--rank0-evaluates: this process was not started by mpirun or srun"), std::string::npos)
      << r.output;
  if (!dispatch::mpi_built()) {
    const CommandResult m = run_command("env OMPI_COMM_WORLD_SIZE=3 " + std::string(NOS_EXECUTABLE) +
                                        " search --config " + config + " --run-dir " + dir.path() + "/m --top 0");
    EXPECT_EQ(m.exit_code, 2) << m.output;
    EXPECT_NE(m.output.find("built without MPI"), std::string::npos) << m.output;
  }
}

}  // namespace
}  // namespace nos::search
