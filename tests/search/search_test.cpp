// The search loop in one process: dedup cache, invalid and rejected rules, the prefilter, the proposers end to end.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "dsl/dsl.h"
#include "search/search.h"
#include "tests/search/helpers.h"
#include "tests/temp_dir.h"

namespace nos::search {
namespace {

using fixtures::analytic_config;
using fixtures::CountingEvaluator;
using fixtures::ScriptedProposer;

using fixtures::read;

struct Scripted {
  testing::TempDir dir;
  std::shared_ptr<CountingEvaluator> evaluator = std::make_shared<CountingEvaluator>();
  std::unique_ptr<Store> store;
  SearchResult result;

  // csvs: progress.csv and best.csv are written into dir.
  Scripted(const std::vector<std::string>& script, SearchConfig config, ScriptedProposer& proposer,
           bool prefilter = false, bool csvs = false) {
    store = std::make_unique<Store>(dir.file("search.db"), Store::Mode::kCreate);
    dispatch::ThreadPool pool(evaluator, config.workers);
    std::unique_ptr<Prefilter> filter;
    if (prefilter) filter = std::make_unique<Prefilter>(config.prefilter);
    Search search(config, *store, proposer, pool, filter.get(), SearchRuntime{}, "", csvs ? dir.path() : "");
    result = search.run();
  }
};

// Eight proposals of three rules: g·1, 1·g and g+0 are g; m·1 and 1·m are m; g+g is 2*g.
const std::vector<std::string> kScriptOfThreeRules = {"g 1 id id mul", "1 g id id mul", "m 1 id id mul",
                                                      "g g id id add", "g 0 id id add", "m 1 id id mul",
                                                      "g 1 id id mul", "1 m id id mul"};

TEST(Search, EachCanonicalRuleIsEvaluatedOnceAndLaterHitsReuseItsReward) {
  // g·1, 1·g and g+0 are one rule (g); m·1 is another; g+g is a third.
  const std::vector<std::string>& script = kScriptOfThreeRules;
  SearchConfig config = analytic_config();
  config.budget = 16;
  config.batch_size = 8;
  ScriptedProposer proposer(script);
  Scripted run(script, config, proposer);
  EXPECT_EQ(run.result.children, 16);
  EXPECT_EQ(run.result.evaluated, 3);
  EXPECT_EQ(run.result.cache_hits, 13);
  for (const auto& [rule, calls] : run.evaluator->calls()) EXPECT_EQ(calls, 1) << rule;
  EXPECT_EQ(run.evaluator->calls().size(), 3u);

  const std::vector<Evaluation> rows = run.store->all();
  ASSERT_EQ(rows.size(), 16u);
  std::map<std::string, double> reward_of;
  for (const Evaluation& e : rows) {
    EXPECT_EQ(e.status, tasks::Status::kOk) << e.tokens;
    if (!e.cached) reward_of[e.hash] = e.reward;
  }
  for (const Evaluation& e : rows) {
    EXPECT_EQ(e.reward, reward_of.at(e.hash)) << e.tokens;
    EXPECT_EQ(e.cached, !(e.batch == 0 && (e.slot == 0 || e.slot == 2 || e.slot == 3))) << e.tokens;
  }
  EXPECT_EQ(rows[1].message, "same rule as batch 0 slot 0");
  EXPECT_EQ(rows[1].canonical, "g");
  EXPECT_GT(rows[0].reward, 0);
  // The proposer got the stored rewards, cache hits included.
  ASSERT_EQ(proposer.rewards().size(), 16u);
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(proposer.rewards()[i], rows[i].reward);
}

TEST(Search, InvalidTokensAreStoredAsInvalidWithZeroReward) {
  const std::vector<std::string> script = {"g g id id blah", "g g", "u3 g id id add", "g g id id add"};
  SearchConfig config = analytic_config();
  config.budget = 4;
  config.batch_size = 4;
  ScriptedProposer proposer(script);
  Scripted run(script, config, proposer);
  const std::vector<Evaluation> rows = run.store->all();
  ASSERT_EQ(rows.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(rows[i].status, tasks::Status::kInvalid) << rows[i].tokens;
    EXPECT_EQ(rows[i].reward, 0);
    EXPECT_EQ(rows[i].hash, "");
    EXPECT_FALSE(rows[i].message.empty());
  }
  EXPECT_NE(rows[0].message.find("error[E"), std::string::npos) << rows[0].message;
  EXPECT_EQ(rows[3].status, tasks::Status::kOk);
  EXPECT_EQ(run.result.evaluated, 1);
  EXPECT_EQ(proposer.rewards(), (std::vector<double>{0, 0, 0, rows[3].reward}));
}

// An evaluation that throws something other than a UserError (a bug in nos) is a crashed child: stored as such
// with reward 0, and counted, so that a run in which every trained child crashed can say it measured nothing
// (nos search then exits 3, issue 33) instead of reporting "best reward 0".
class CrashingEvaluator : public tasks::Evaluator {
 public:
  explicit CrashingEvaluator(std::string survivor = "") : survivor_(std::move(survivor)) {}
  tasks::EvalRecord evaluate(const tasks::EvalRequest& request) override {
    if (!survivor_.empty() && request.rule == survivor_) return inner_.evaluate(request);
    throw std::runtime_error("a bug in the evaluator");
  }

 private:
  std::string survivor_;
  tasks::LocalEvaluator inner_;
};

TEST(Search, CrashedChildrenAreCountedApartFromLowRewards) {
  const std::vector<std::string> script = {"g 1 id id mul", "m 1 id id mul", "g g id id blah", "g g id id add"};
  SearchConfig config = analytic_config();
  config.budget = 4;
  config.batch_size = 4;
  for (const std::string survivor : {"", "m"}) {
    testing::TempDir dir;
    Store store(dir.file("search.db"), Store::Mode::kCreate);
    dispatch::ThreadPool pool(std::make_shared<CrashingEvaluator>(survivor), 2);
    ScriptedProposer proposer(script);
    Search search(config, store, proposer, pool, nullptr, SearchRuntime{}, "", "");
    const SearchResult result = search.run();
    EXPECT_EQ(result.trained, 3) << survivor;  // the invalid one is not trained
    EXPECT_EQ(result.crashed, survivor.empty() ? 3 : 2) << survivor;
    int crashed_rows = 0;
    for (const Evaluation& e : store.all()) {
      if (e.status != tasks::Status::kCrashed) continue;
      ++crashed_rows;
      EXPECT_EQ(e.reward, 0);
      EXPECT_NE(e.message.find("a bug in the evaluator"), std::string::npos) << e.message;
    }
    EXPECT_EQ(crashed_rows, result.crashed);
  }
}

// Each layer alone (the probe's checks; the Beale run) and both together (the default, probe first) reject the
// same junk, each saying which layer did, and keep descent directions.
TEST(Prefilter, RejectsRulesThatCannotLowerTheLossAndKeepsDescentDirections) {
  PrefilterSettings probe_only, beale_only, both;
  probe_only.objective = "none";
  beale_only.probe = false;
  for (const auto& [settings, layer] : {std::pair<PrefilterSettings, std::string>{probe_only, "probe:"},
                                        {beale_only, "prefilter:"}, {both, "probe:"}}) {
    const Prefilter filter{settings};
    for (const char* bad : {"w", "-g", "0.1*w", "-adam", "1", "noise"}) {
      const PrefilterVerdict v = filter.check(dsl::parse(bad));
      EXPECT_FALSE(v.pass) << layer << " " << bad << ": " << v.message;
      EXPECT_EQ(v.message.rfind(layer, 0), 0u) << bad << ": " << v.message;
    }
    // exp(g) descends on the probe (large steps where g > 0) but cannot bring Beale's loss down: Beale's catch.
    const PrefilterVerdict e = filter.check(dsl::parse("exp(g)"));
    EXPECT_EQ(e.pass, settings.objective == "none") << layer << ": " << e.message;
    for (const char* good : {"g", "adam", "sign(g)", "exp(sign(g)*sign(m))*g", "(1+sign(g)*sign(m))*g", "m",
                             "rmsprop", "g*exp(cd)", "10*m"}) {
      const PrefilterVerdict v = filter.check(dsl::parse(good));
      EXPECT_TRUE(v.pass) << layer << " " << good << ": " << v.message;
    }
  }
}

TEST(Search, PrefilterRejectsBeforeTrainingAndTheRejectionIsCached) {
  const std::vector<std::string> script = {"w 1 id id mul", "g 1 neg id mul", "g 1 id id mul", "1 w id id mul"};
  SearchConfig config = analytic_config();
  config.budget = 4;
  config.batch_size = 4;
  ScriptedProposer proposer(script);
  Scripted run(script, config, proposer, true);
  const std::vector<Evaluation> rows = run.store->all();
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].status, tasks::Status::kRejected);
  EXPECT_EQ(rows[0].canonical, "w");
  EXPECT_EQ(rows[1].status, tasks::Status::kRejected);
  EXPECT_EQ(rows[1].canonical, "-g");
  EXPECT_EQ(rows[2].status, tasks::Status::kOk);
  EXPECT_FALSE(rows[0].cached);
  EXPECT_EQ(rows[3].status, tasks::Status::kRejected);
  EXPECT_TRUE(rows[3].cached);
  EXPECT_EQ(run.evaluator->calls().count("w"), 0u);
}

// Runs a whole search in this process (threads) from a shipped config, shrunk to an analytic task.
SearchResult run_shipped(const std::string& name, testing::TempDir& dir, std::unique_ptr<Store>& store) {
  SearchConfig config = load_config(std::string(NOS_SOURCE_DIR) + "/configs/" + name + ".yaml");
  const SearchConfig small = analytic_config();
  config.task = small.task;
  config.budget = 40;
  config.workers = 2;
  SearchRuntime runtime;
  runtime.run_dir = dir.path() + "/run";
  SearchResult result = start_search(config, runtime);
  store = std::make_unique<Store>(store_path(runtime.run_dir), Store::Mode::kReadOnly);
  return result;
}

TEST(Search, RandomAndEvolutionRunFromTheirConfigs) {
  for (const char* name : {"random", "evolution"}) {
    testing::TempDir dir;
    std::unique_ptr<Store> store;
    const SearchResult result = run_shipped(name, dir, store);
    EXPECT_EQ(result.children, 40) << name;
    EXPECT_FALSE(result.interrupted);
    const std::vector<Evaluation> rows = store->all();
    ASSERT_EQ(rows.size(), 40u);
    for (const Evaluation& e : rows) {
      EXPECT_NE(e.status, tasks::Status::kInvalid) << name << ": " << e.tokens;
      EXPECT_EQ(e.proposer.rfind(name, 0), 0u) << e.proposer;
    }
    EXPECT_GT(result.best_reward, 0) << name;
    // The run folder holds the resolved config, the checkpoint and both CSVs (a header + a line per batch/child).
    const std::string run = dir.path() + "/run";
    EXPECT_EQ(parse_config(read(config_path(run)), "config.yaml").proposer, name);
    EXPECT_FALSE(read(checkpoint_path(run)).empty());
    const std::string progress = read(run + "/progress.csv");
    EXPECT_EQ(std::count(progress.begin(), progress.end(), '\n'), 1 + 5) << progress;
    const std::string best = read(run + "/best.csv");
    EXPECT_EQ(std::count(best.begin(), best.end(), '\n'), 1 + 40);
    EXPECT_EQ(*store->meta("proposer"), name);
    EXPECT_FALSE(store->meta("libtorch_version")->empty());
  }
}

// progress.csv counts each batch's repeats: proposals whose canonical rule came earlier in the run (issue 36).
TEST(Search, ProgressCountsEachBatchsRepeats) {
  // Batch 0: g·1, 1·g (g again), m·1, g+g — one repeat; batch 1: g+0, m·1, g·1, 1·m — all four repeat.
  const std::vector<std::string>& script = kScriptOfThreeRules;
  SearchConfig config = analytic_config();
  config.budget = 8;
  config.batch_size = 4;
  config.workers = 1;
  ScriptedProposer proposer(script);
  Scripted run(script, config, proposer, false, true);
  std::istringstream progress(read(run.dir.path() + "/progress.csv"));
  std::string header, first, second;
  std::getline(progress, header);
  std::getline(progress, first);
  std::getline(progress, second);
  EXPECT_EQ(header, "batch,children,mean_reward,best_so_far,cache_hits,repeats,seconds");
  auto repeats = [](const std::string& line) {
    std::vector<std::string> cells;
    std::istringstream in(line);
    for (std::string cell; std::getline(in, cell, ',');) cells.push_back(cell);
    return cells.size() == 7 ? cells[5] : "?";
  };
  EXPECT_EQ(repeats(first), "1") << first;
  EXPECT_EQ(repeats(second), "4") << second;
  const std::vector<std::pair<int64_t, int64_t>> by_batch = repeats_by_batch(run.store->all());
  EXPECT_EQ(by_batch, (std::vector<std::pair<int64_t, int64_t>>{{0, 1}, {1, 4}}));
}

TEST(Search, EvolutionWarmStartIsEvaluatedFirst) {
  testing::TempDir dir;
  SearchConfig config = analytic_config("evolution");
  config.evolution.population = 8;
  config.evolution.tournament = 3;
  config.evolution.warm_start = {"adam", "sgd"};
  config.budget = 16;
  SearchRuntime runtime;
  runtime.run_dir = dir.path();
  start_search(config, runtime);
  Store store(store_path(dir.path()), Store::Mode::kReadOnly);
  const std::vector<Evaluation> rows = store.all();
  EXPECT_EQ(rows[0].canonical, "adam");
  EXPECT_EQ(rows[0].proposer, "evolution: warm start adam");
  EXPECT_EQ(rows[1].canonical, "g");
  EXPECT_EQ(rows[8].proposer.rfind("evolution: mutation", 0), 0u) << rows[8].proposer;
}

// A full disk while the proposer checkpoint is written (its temporary is a link to /dev/full: every write fails with
// ENOSPC) stops the search with a UserError (exit 2) saying to free space and resume; the previous checkpoint and
// every stored child stay, and the resume then finishes the run. It aborted the process before (issue 34).
TEST(Search, AFullDiskAtTheCheckpointKeepsThePreviousOne) {
  testing::TempDir dir;
  SearchConfig config = analytic_config("controller");
  config.budget = 8;
  SearchRuntime runtime;
  runtime.run_dir = dir.path();
  start_search(config, runtime);
  const std::string checkpoint = checkpoint_path(dir.path());
  const std::string before = read(checkpoint);
  ASSERT_FALSE(before.empty());
  ASSERT_EQ(::symlink("/dev/full", (checkpoint + ".tmp").c_str()), 0);
  config.budget = 16;
  try {
    resume_search(config, runtime);
    ADD_FAILURE() << "a checkpoint on a full disk was written";
  } catch (const UserError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cannot write " + checkpoint), std::string::npos) << message;
    EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
    EXPECT_NE(message.find("free space, then continue with: nos search --resume"), std::string::npos) << message;
  }
  EXPECT_EQ(read(checkpoint), before);
  EXPECT_NE(::access((checkpoint + ".tmp").c_str(), F_OK), 0) << "the temporary is left behind";
  {
    Store store(store_path(dir.path()), Store::Mode::kReadOnly);
    EXPECT_EQ(store.counts().total, 16);  // the batch was stored before its checkpoint
  }
  EXPECT_EQ(resume_search(config, runtime).children, 16);
  EXPECT_NE(read(checkpoint), before);
}

// Two nos in one run folder at once would store the same slots twice (issue 34: a second --resume ended with exit 3,
// "UNIQUE constraint failed"): the second is refused, naming the first's process id, and stores nothing.
TEST(Search, ASecondNosInARunFolderIsRefused) {
  testing::TempDir dir;
  SearchConfig config = analytic_config("random");
  config.budget = 8;
  SearchRuntime runtime;
  runtime.run_dir = dir.path();
  start_search(config, runtime);
  // Another process's lock (flock locks belong to open file descriptions: a second open stands for it).
  const int fd = ::open((dir.path() + "/.lock").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  ASSERT_EQ(::ftruncate(fd, 0), 0);
  ASSERT_EQ(::pwrite(fd, "4242\n", 5, 0), 5);
  config.budget = 16;
  try {
    resume_search(config, runtime);
    ADD_FAILURE() << "a locked run folder was resumed";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("another nos is running this search (pid 4242)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(start_search(config, runtime), UserError);
  {
    Store store(store_path(dir.path()), Store::Mode::kReadOnly);
    EXPECT_EQ(store.counts().total, 8);
  }
  ::close(fd);
  EXPECT_EQ(resume_search(config, runtime).children, 16);
}

// A start killed while it created the store leaves an empty or partial one: the same command, or --resume when the
// run's config.yaml was written, starts the search afresh and says so (issue 34: neither was accepted).
TEST(Search, AStoreLeftEmptyByAKilledStartIsStartedAfresh) {
  SearchConfig config = analytic_config("random");
  config.budget = 8;
  SearchResult reference;
  {
    testing::TempDir dir;
    SearchRuntime runtime;
    runtime.run_dir = dir.path();
    reference = start_search(config, runtime);
  }
  for (const std::string& leftover : {"empty file", "schema only"}) {
    for (const bool resume : {false, true}) {
      testing::TempDir dir;
      SearchRuntime runtime;
      runtime.run_dir = dir.path();
      std::ofstream(dir.path() + "/config.yaml") << to_yaml(config);
      if (leftover == "empty file") {
        std::ofstream(store_path(dir.path())).flush();
      } else {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(store_path(dir.path()).c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
                                   "CREATE TABLE evaluations (id INTEGER PRIMARY KEY, batch INTEGER);",
                               nullptr, nullptr, nullptr),
                  SQLITE_OK);
        sqlite3_close(db);
      }
      SCOPED_TRACE(leftover + (resume ? ", --resume" : ", the same command"));
      const SearchResult r = resume ? resume_search(run_config(dir.path()), runtime) : start_search(config, runtime);
      EXPECT_EQ(r.children, 8);
      EXPECT_EQ(r.best_canonical, reference.best_canonical);
      ASSERT_FALSE(r.notes.empty());
      EXPECT_NE(r.notes.front().find("the search started afresh"), std::string::npos) << r.notes.front();
    }
  }
  // A database of another program is not taken for an unstarted run.
  testing::TempDir dir;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(store_path(dir.path()).c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE photos (id INTEGER);", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  SearchRuntime runtime;
  runtime.run_dir = dir.path();
  EXPECT_THROW(start_search(config, runtime), UserError);
}

TEST(Search, AStartedRunFolderIsNotStartedAgain) {
  testing::TempDir dir;
  SearchConfig config = analytic_config("random");
  config.budget = 12;  // batches of 8 and 4
  SearchRuntime runtime;
  runtime.run_dir = dir.path();
  start_search(config, runtime);
  EXPECT_THROW(start_search(config, runtime), UserError);
  // A resume may raise the budget (after a short batch), but not change what was proposed.
  config.budget = 20;
  EXPECT_EQ(resume_search(config, runtime).children, 20);
  {
    Store store(store_path(dir.path()), Store::Mode::kReadOnly);
    EXPECT_EQ(store.batch(1).size(), 4u);
    EXPECT_EQ(store.batch(2).size(), 8u);
  }
  config.seed = 99;
  EXPECT_THROW(resume_search(config, runtime), UserError);
}

// A full disk while a child is stored: a UserError saying what to do, the rows stored before it kept, and after
// space is freed (a new connection has no limit) the run resumes to its budget without training them again.
TEST(Search, AFullDiskStopsWithAMessageAndKeepsWhatIsStored) {
  testing::TempDir dir;
  SearchConfig config = analytic_config("random");
  config.budget = 400;  // enough rows to outgrow the database's pages
  config.batch_size = 50;
  SearchRuntime runtime;
  runtime.run_dir = dir.path();
  start_search(config, runtime);  // writes the config and meta rows, then searches 400 children
  config.budget = 4000;
  int64_t stored = 0;
  {
    Store store(store_path(dir.path()), Store::Mode::kOpen);
    stored = store.counts().total;
    store.limit_size_for_testing();
    std::shared_ptr<CountingEvaluator> evaluator = std::make_shared<CountingEvaluator>();
    dispatch::ThreadPool pool(evaluator, 1);
    std::unique_ptr<Proposer> proposer = make_proposer(config);
    Search search(config, store, *proposer, pool, nullptr, runtime, "", "");
    try {
      search.run();
      FAIL() << "the search stored 3,600 more children in a database that cannot grow";
    } catch (const UserError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("the disk is full"), std::string::npos) << m;
      EXPECT_NE(m.find("free space"), std::string::npos) << m;
      EXPECT_NE(m.find("nos search --resume"), std::string::npos) << m;
    }
    EXPECT_FALSE(evaluator->calls().empty());
  }
  Store after(store_path(dir.path()), Store::Mode::kReadOnly);
  EXPECT_GE(after.counts().total, stored);
  EXPECT_LT(after.counts().total, 4000);
}

// A damaged proposer.pt stops --resume with the way forward; --rebuild-proposer replays the stored history and
// completes the run exactly as an uninterrupted one, training only the children not stored.
TEST(Search, ADamagedCheckpointIsRebuiltFromTheStoredChildren) {
  testing::TempDir dir;
  SearchConfig config = analytic_config("controller");
  config.budget = 40;
  SearchRuntime runtime;
  runtime.run_dir = dir.path() + "/full";
  start_search(config, runtime);
  const std::vector<Evaluation> expected = Store(store_path(runtime.run_dir), Store::Mode::kReadOnly).all();

  config.budget = 24;  // three batches of 8, then the checkpoint is damaged, then resumed to 40
  runtime.run_dir = dir.path() + "/damaged";
  start_search(config, runtime);
  {
    std::ofstream damage(checkpoint_path(runtime.run_dir), std::ios::trunc);
    damage << "not a checkpoint";
  }
  config.budget = 40;
  try {
    resume_search(config, runtime);
    FAIL() << "a damaged checkpoint was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("--rebuild-proposer"), std::string::npos) << e.what();
  }
  runtime.rebuild_proposer = true;
  const SearchResult resumed = resume_search(config, runtime);
  EXPECT_EQ(resumed.children, 40);
  EXPECT_LE(resumed.evaluated, 16);  // only the last two batches could need training
  EXPECT_TRUE(std::ifstream(checkpoint_path(runtime.run_dir) + ".damaged").good());
  const std::vector<Evaluation> rows = Store(store_path(runtime.run_dir), Store::Mode::kReadOnly).all();
  ASSERT_EQ(rows.size(), expected.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].tokens, expected[i].tokens) << i;
    EXPECT_EQ(rows[i].status, expected[i].status) << i;
  }
  const std::string progress = read(runtime.run_dir + "/progress.csv");
  EXPECT_EQ(std::count(progress.begin(), progress.end(), '\n'), 1 + 5) << progress;
}

// Stands for a trainer with hurdles: each rule's hurdle accuracy is a fixed function of its text; a child below the
// request's hurdle stops there (status hurdle, reward its hurdle accuracy), the others finish with 0.1 more.
class HurdleEvaluator : public tasks::Evaluator {
 public:
  tasks::EvalRecord evaluate(const tasks::EvalRequest& request) override {
    tasks::EvalRecord r;
    r.rule = request.rule;
    r.hurdle_acc = static_cast<double>(std::hash<std::string>()(request.rule) % 1000) / 2000.0;
    r.status = r.hurdle_acc < request.hurdle ? tasks::Status::kHurdle : tasks::Status::kOk;
    r.reward = r.val_acc = r.status == tasks::Status::kHurdle ? r.hurdle_acc : r.hurdle_acc + 0.1;
    std::lock_guard<std::mutex> lock(mutex_);
    hurdles_[request.rule] = request.hurdle;
    return r;
  }
  std::map<std::string, double> hurdles() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return hurdles_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, double> hurdles_;
};

// The hurdle of a batch is the percentile of the hurdle accuracies stored by earlier batches (none before
// min_children of them): a resumed run computes the same. Hurdled children keep their reward and are counted.
TEST(Search, HurdlesComeFromEarlierBatchesAndHurdledChildrenKeepTheirReward) {
  EXPECT_EQ(percentile({3, 1, 2, 4}, 50), 2.5);
  EXPECT_EQ(percentile({3, 1, 2, 4}, 0), 1);
  EXPECT_EQ(percentile({3, 1, 2, 4}, 100), 4);
  EXPECT_NEAR(percentile({0, 10}, 25), 2.5, 1e-12);
  EXPECT_TRUE(std::isnan(percentile({}, 50)));

  // 24 rules of distinct canonical text: sums of two different operands.
  std::vector<std::string> script;
  std::set<std::string> seen;
  const std::vector<std::string> operands = dsl::default_vocabulary().operands;
  for (size_t i = 0; i < operands.size() && script.size() < 24; ++i) {
    for (size_t j = i + 1; j < operands.size() && script.size() < 24; ++j) {
      const std::string tokens = operands[i] + " " + operands[j] + " id id add";
      const dsl::NodePtr tree = dsl::from_units(dsl::parse_tokens(tokens));
      if (seen.insert(dsl::canonical_text(tree)).second) script.push_back(tokens);
    }
  }
  ASSERT_EQ(script.size(), 24u);
  testing::TempDir dir;
  SearchConfig config = analytic_config();
  config.fec_cache = "none";
  config.batch_size = 8;
  config.hurdle.min_children = 8;
  config.hurdle.percentile = 50;
  auto evaluator = std::make_shared<HurdleEvaluator>();
  Store store(dir.file("search.db"), Store::Mode::kCreate);
  ScriptedProposer proposer(script);
  auto run_to = [&](int64_t budget) {
    config.budget = budget;
    dispatch::ThreadPool pool(evaluator, config.workers);
    Search search(config, store, proposer, pool, nullptr, SearchRuntime{}, dir.file("proposer.pt"), "");
    return search.run();
  };
  run_to(16);
  const SearchResult result = run_to(24);  // a second session: batch 2's hurdle from the store
  const std::vector<Evaluation> rows = store.all();
  ASSERT_EQ(rows.size(), 24u);
  const std::map<std::string, double> hurdles = evaluator->hurdles();
  int64_t hurdled = 0;
  for (const Evaluation& e : rows) {
    std::vector<double> earlier;
    for (const Evaluation& f : rows) {
      if (f.batch < e.batch) earlier.push_back(f.hurdle_acc);
    }
    const double expected = e.batch == 0 ? 0.0 : percentile(earlier, 50);
    EXPECT_EQ(hurdles.at(e.canonical), expected) << e.canonical;
    EXPECT_EQ(e.status, e.hurdle_acc < expected ? tasks::Status::kHurdle : tasks::Status::kOk) << e.canonical;
    EXPECT_GT(e.reward, 0) << e.canonical;  // a hurdled child's reward is its accuracy, not 0
    EXPECT_FALSE(std::isnan(e.hurdle_acc));
    hurdled += e.status == tasks::Status::kHurdle;
  }
  EXPECT_GT(hurdled, 0);
  EXPECT_EQ(result.hurdles, hurdled);
  // Off: no child gets a hurdle.
  testing::TempDir other;
  config.hurdle.enabled = false;
  config.budget = 16;
  auto fresh = std::make_shared<HurdleEvaluator>();
  Store off(other.file("search.db"), Store::Mode::kCreate);
  ScriptedProposer again(script);
  dispatch::ThreadPool pool(fresh, config.workers);
  Search(config, off, again, pool, nullptr, SearchRuntime{}, "", "").run();
  for (const auto& [rule, hurdle] : fresh->hurdles()) EXPECT_EQ(hurdle, 0.0) << rule;
}

// A run started by a nos before issue 15 recorded a config without lr_search, test_accuracy and hurdle: resumed,
// it keeps the protocol it ran with (the full grid, test accuracy, no hurdles), not today's defaults.
TEST(Resume, ARunFromBeforeTheEfficiencyKeysKeepsItsProtocol) {
  testing::TempDir dir;
  SearchConfig config = analytic_config("random");
  config.budget = 4;
  config.batch_size = 4;
  SearchRuntime runtime;
  runtime.run_dir = dir.path() + "/run";
  start_search(config, runtime);
  std::string old_yaml;
  {
    Store store(store_path(runtime.run_dir), Store::Mode::kOpen);
    std::istringstream in(*store.meta("config"));
    bool in_hurdle = false;
    for (std::string line; std::getline(in, line);) {
      if (line == "hurdle:") in_hurdle = true;
      else if (!line.empty() && line[0] != ' ') in_hurdle = false;
      if (in_hurdle || line.rfind("  lr_search:", 0) == 0 || line.rfind("  test_accuracy:", 0) == 0) continue;
      old_yaml += line + "\n";
    }
    store.set_meta("config", old_yaml);
  }
  const SearchConfig recorded = run_config(runtime.run_dir);
  EXPECT_EQ(recorded.task.lr_search, "full");
  EXPECT_TRUE(recorded.task.test_accuracy);
  EXPECT_FALSE(recorded.hurdle.enabled);
  // A fresh config's defaults are the new ones; the resume takes the recorded config and goes on.
  EXPECT_EQ(SearchConfig{}.task.lr_search, "halving");
  SearchConfig more = recorded;
  more.budget = 8;
  EXPECT_EQ(resume_search(more, runtime).children, 8);
  const SearchConfig after = run_config(runtime.run_dir);
  EXPECT_EQ(after.task.lr_search, "full");
  EXPECT_FALSE(after.hurdle.enabled);
}

// A store written before hurdles (no hurdle_acc column) opens: a reader reads NULL, a writer adds the column.
TEST(Store, StoresFromBeforeHurdlesOpen) {
  testing::TempDir dir;
  const std::string path = dir.file("search.db");
  {
    Store store(path, Store::Mode::kCreate);
    Evaluation e;
    e.proposer = "random";
    e.status = tasks::Status::kOk;
    e.reward = 0.5;
    e.hurdle_acc = 0.25;
    store.insert(e);
  }
  // Drop the column: an old nos never had it.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE evaluations DROP COLUMN hurdle_acc", nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  {
    Store reader(path, Store::Mode::kReadOnly);
    ASSERT_EQ(reader.all().size(), 1u);
    EXPECT_TRUE(std::isnan(reader.all()[0].hurdle_acc));
    EXPECT_EQ(reader.all()[0].reward, 0.5);
  }
  Store writer(path, Store::Mode::kOpen);
  Evaluation e;
  e.slot = 1;
  e.proposer = "random";
  e.status = tasks::Status::kHurdle;
  e.hurdle_acc = 0.125;
  writer.insert(e);
  EXPECT_EQ(writer.all()[1].hurdle_acc, 0.125);
  EXPECT_EQ(writer.hurdle_accuracies(1), std::vector<double>{0.125});
}

// Rules of different canonical text that compute the same updates are one child: the first trains, the others
// reuse its reward (cached, "same updates as ..."), in the same batch or a later one; fec_cache none trains each.
TEST(Search, EquivalentRulesAreEvaluatedOnce) {
  // sign(m) and sign(m)/1 (`/` adds 1e-8); g²·sign(g) and √(g²)·g (both g·|g|).
  const std::vector<std::string> script = {"m m sign id keep", "m 1 sign id div", "g2 g id sign mul",
                                           "g2 g sqrt id mul"};
  for (const std::string cache : {"run", "none"}) {
    SearchConfig config = analytic_config();
    config.budget = 8;
    config.batch_size = 4;
    config.fec_cache = cache;
    ScriptedProposer proposer(script);
    Scripted run(script, config, proposer);
    const std::vector<Evaluation> rows = run.store->all();
    ASSERT_EQ(rows.size(), 8u);
    EXPECT_EQ(rows[0].canonical, "sign(m)");
    EXPECT_EQ(rows[1].canonical, "sign(m)/1");
    EXPECT_NE(rows[2].canonical, rows[3].canonical);
    if (cache == "run") {
      EXPECT_TRUE(rows[1].cached);
      EXPECT_EQ(rows[1].message.rfind("same updates as sign(m)", 0), 0u) << rows[1].message;
      EXPECT_EQ(rows[1].reward, rows[0].reward);
      EXPECT_TRUE(rows[3].cached) << rows[3].message;
      EXPECT_EQ(run.result.evaluated, 2);
      EXPECT_EQ(run.result.equivalence_hits, 2 + 2);  // the second round: two of its rules by function again
    } else {
      EXPECT_FALSE(rows[1].cached);
      EXPECT_FALSE(rows[3].cached);
      EXPECT_EQ(run.result.evaluated, 4);
      EXPECT_EQ(run.result.equivalence_hits, 0);
    }
    for (size_t i = 4; i < 8; ++i) EXPECT_TRUE(rows[i].cached) << i;
  }
}

// Issue 36 changed canonical forms (sign(adam) is sign(m)). A run folder from before — no canonical_version in its
// meta, a row under the old text and hash, a recorded config without controller.escape — resumes: the row takes
// today's text and hash (its rule and tokens untouched), the version is recorded, and the old run keeps its
// controller's behaviour (escape none). nos top reads it before and after.
TEST(Search, ARunFolderFromBeforeTheCanonicalChangeResumesAndReadsCorrectly) {
  testing::TempDir dir;
  SearchConfig config = analytic_config("controller");
  config.budget = 8;
  SearchRuntime runtime;
  runtime.run_dir = dir.path();
  start_search(config, runtime);
  std::string rule, tokens;
  {
    Store store(store_path(dir.path()), Store::Mode::kOpen);
    EXPECT_EQ(store.meta(kCanonicalVersionKey).value_or(""), std::to_string(dsl::kCanonicalVersion));
    rule = store.all()[0].rule;
    tokens = store.all()[0].tokens;
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(store_path(dir.path()).c_str(), &db), SQLITE_OK);
  std::string yaml;
  {
    Store store(store_path(dir.path()), Store::Mode::kReadOnly);
    yaml = store.meta("config").value_or("");
  }
  const size_t escape = yaml.find("  escape: temperature\n");
  ASSERT_NE(escape, std::string::npos) << yaml;
  yaml.erase(escape, std::string("  escape: temperature\n").size());
  const std::string doctor =
      "UPDATE evaluations SET canonical = 'sign(adam)', hash = '00000000000000aa' WHERE batch = 0 AND slot = 0;"
      "DELETE FROM meta WHERE key = 'canonical_version';"
      "UPDATE meta SET value = '" + yaml + "' WHERE key = 'config';";
  ASSERT_EQ(sqlite3_exec(db, doctor.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(summarize_run(dir.path()).children, 8);  // read as it is
  config = run_config(dir.path());
  EXPECT_EQ(config.controller.escape, "none");
  config.budget = 16;
  EXPECT_EQ(resume_search(config, runtime).children, 16);
  Store store(store_path(dir.path()), Store::Mode::kReadOnly);
  const Evaluation first = store.all()[0];
  EXPECT_EQ(first.canonical, "sign(m)");
  EXPECT_EQ(first.hash, dsl::hash_hex(dsl::rule_hash(dsl::parse("sign(m)"))));
  EXPECT_EQ(first.rule, rule);
  EXPECT_EQ(first.tokens, tokens);
  EXPECT_EQ(store.meta(kCanonicalVersionKey).value_or(""), std::to_string(dsl::kCanonicalVersion));
  // The recorded config is kept as it was (no escape key: written by a nos before it), and still reads as none.
  std::string resumed = yaml;
  const size_t budget = resumed.find("budget: 8\n");
  ASSERT_NE(budget, std::string::npos);
  resumed.replace(budget, std::string("budget: 8\n").size(), "budget: 16\n");
  EXPECT_EQ(store.meta("config").value_or(""), resumed);
  EXPECT_EQ(run_config(dir.path()).controller.escape, "none");
  ASSERT_TRUE(store.find_hash(first.hash));
  EXPECT_EQ(store.find_hash(first.hash)->batch, 0);
}

// A shared cache written before issue 36 names its rules in the old canonical form: opened, it takes today's.
TEST(SharedEquivalenceCache, ACacheFromBeforeTheCanonicalChangeReadsTodaysForms) {
  testing::TempDir dir;
  const std::string path = dir.file("fec.db");
  const dsl::Fingerprint f = dsl::fingerprint(dsl::compile(dsl::parse("sign(m)")));
  {
    SharedEquivalenceCache cache(path, "task");
    Evaluation row;
    row.canonical = "sign(adam)";
    row.status = tasks::Status::kOk;
    row.reward = row.val_acc = 0.5;
    cache.put(f, row);
    EXPECT_EQ(cache.find(f)->canonical, "sign(adam)");  // stored as given
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DELETE FROM meta WHERE key = 'canonical_version'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  SharedEquivalenceCache cache(path, "task");
  ASSERT_TRUE(cache.find(f));
  EXPECT_EQ(cache.find(f)->canonical, "sign(m)");
  EXPECT_EQ(cache.find(f)->reward, 0.5);
}

// fec_cache: PATH is shared by runs: a second run with the same task settings trains nothing it knows (each reuse
// names the file), a run with other task settings reuses nothing, and two runs at once lose no entry.
TEST(SharedEquivalenceCache, RunsWithTheSameTaskSettingsShareResults) {
  testing::TempDir dir;
  SearchConfig config = analytic_config("random");
  config.budget = 32;
  config.fec_cache = dir.path() + "/fec.db";
  auto run = [&](const SearchConfig& c, const std::string& name) {
    SearchRuntime runtime;
    runtime.run_dir = dir.path() + "/" + name;
    runtime.evaluator = std::make_shared<CountingEvaluator>();
    return start_search(c, runtime);
  };
  const SearchResult first = run(config, "first");
  ASSERT_GT(first.evaluated, 0);
  const SearchResult again = run(config, "again");
  EXPECT_EQ(again.evaluated, 0);
  EXPECT_EQ(again.children, 32);
  const std::vector<Evaluation> rows = Store(store_path(dir.path() + "/again"), Store::Mode::kReadOnly).all();
  int shared_hits = 0;
  for (const Evaluation& e : rows) shared_hits += e.message.find(config.fec_cache) != std::string::npos;
  EXPECT_GT(shared_hits, 0);
  SearchConfig other = config;
  other.task.steps = 150;
  EXPECT_EQ(run(other, "other").evaluated, first.evaluated);  // other task settings: nothing reused
  // A multi-seed or multi-task fitness is another reward than one seed's on one task: kept apart in the same file,
  // and each reused by a run with the same fitness (issue 37: a README promise without a test).
  SearchConfig seeds = config;
  seeds.fitness.seeds = 2;
  const SearchResult two_seeds = run(seeds, "seeds");
  EXPECT_EQ(two_seeds.evaluated, first.evaluated);  // nothing reused from the one-seed rows
  EXPECT_EQ(run(seeds, "seeds-again").evaluated, 0);
  SearchConfig tasks = config;
  FitnessTask beale;
  beale.settings.task = "beale";
  beale.keys = {"name"};
  tasks.fitness.tasks = {beale};
  EXPECT_EQ(run(tasks, "tasks").evaluated, first.evaluated);
  EXPECT_EQ(run(tasks, "tasks-again").evaluated, 0);

  // Two runs at once on a new file, then a third repeating both: everything either ran was kept.
  SearchConfig a = config, b = config;
  a.fec_cache = b.fec_cache = dir.path() + "/concurrent.db";
  b.seed = 2;
  SearchResult ra, rb;
  std::thread ta([&] { ra = run(a, "a"); });
  std::thread tb([&] { rb = run(b, "b"); });
  ta.join();
  tb.join();
  EXPECT_EQ(run(a, "a2").evaluated, 0);
  EXPECT_EQ(run(b, "b2").evaluated, 0);
}

// 24 rules of distinct canonical text: sums of two different operands (the hurdle tests' script).
std::vector<std::string> distinct_sums() {
  std::vector<std::string> script;
  std::set<std::string> seen;
  const std::vector<std::string> operands = dsl::default_vocabulary().operands;
  for (size_t i = 0; i < operands.size() && script.size() < 24; ++i) {
    for (size_t j = i + 1; j < operands.size() && script.size() < 24; ++j) {
      const std::string tokens = operands[i] + " " + operands[j] + " id id add";
      if (seen.insert(dsl::canonical_text(dsl::from_units(dsl::parse_tokens(tokens)))).second) {
        script.push_back(tokens);
      }
    }
  }
  return script;
}

// (status, reward) of each stored child, in (batch, slot) order.
std::vector<std::pair<tasks::Status, double>> outcomes(const Store& store) {
  std::vector<std::pair<tasks::Status, double>> out;
  for (const Evaluation& e : store.all()) out.emplace_back(e.status, e.reward);
  return out;
}

// A run answered from a filled shared cache gives the rows a run without it gives, hurdles included: a cache hit
// carries the hurdle accuracy its training had (counted for later hurdles, as a trained child's) and stops at this
// batch's hurdle when below it (issue 34: 11 children trained to the end that the plain run stopped).
TEST(SharedEquivalenceCache, ARerunOnAFilledCacheGivesThePlainRunsRows) {
  const std::vector<std::string> script = distinct_sums();
  ASSERT_EQ(script.size(), 24u);
  SearchConfig config = analytic_config();
  config.budget = 24;
  config.batch_size = 8;
  config.hurdle.min_children = 8;
  config.hurdle.percentile = 50;
  testing::TempDir dir;
  auto run = [&](const SearchConfig& c, const std::string& name, const std::string& cache) {
    Store store(dir.file(name + ".db"), Store::Mode::kCreate);
    ScriptedProposer proposer(script);
    auto evaluator = std::make_shared<HurdleEvaluator>();
    dispatch::ThreadPool pool(evaluator, c.workers);
    Search search(c, store, proposer, pool, nullptr, SearchRuntime{}, "", "");
    std::unique_ptr<SharedEquivalenceCache> shared;
    if (!cache.empty()) {
      shared = std::make_unique<SharedEquivalenceCache>(cache, "task");
      search.share_equivalences(shared.get());
    }
    const SearchResult r = search.run();
    return std::make_pair(outcomes(store), r);
  };
  const auto plain = run(config, "plain", "");
  int hurdled = 0;
  for (const auto& [status, reward] : plain.first) hurdled += status == tasks::Status::kHurdle;
  ASSERT_GT(hurdled, 0);
  // Filled by the same search, then read by its rerun.
  const std::string cache = dir.path() + "/fec.db";
  EXPECT_EQ(run(config, "filling", cache).first, plain.first);
  const auto rerun = run(config, "rerun", cache);
  EXPECT_LT(rerun.second.evaluated, plain.second.evaluated);  // answered from the cache
  EXPECT_EQ(rerun.first, plain.first);
  // Filled by a search without hurdles (every child trained to the end), read by one with them.
  SearchConfig no_hurdles = config;
  no_hurdles.hurdle.enabled = false;
  const std::string open = dir.path() + "/open-fec.db";
  run(no_hurdles, "open", open);
  const auto strict = run(config, "strict", open);
  EXPECT_EQ(strict.second.evaluated, 0);
  EXPECT_EQ(strict.first, plain.first);
}

// A file that is not a cache (another run's search.db) is refused before anything is written to it (issue 34: nos
// added its table to that run's store); rows no nos writes are refused naming the file and the row.
TEST(SharedEquivalenceCache, AFileThatIsNoCacheIsNeverWrittenTo) {
  testing::TempDir dir;
  SearchConfig config = analytic_config("random");
  config.budget = 8;
  SearchRuntime runtime;
  runtime.run_dir = dir.path() + "/run";
  start_search(config, runtime);
  const std::string db = store_path(runtime.run_dir);
  auto tables = [&] {
    sqlite3* handle = nullptr;
    sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr);
    std::string names;
    sqlite3_exec(
        handle, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        [](void* out, int, char** values, char**) {
          *static_cast<std::string*>(out) += std::string(values[0]) + " ";
          return 0;
        },
        &names, nullptr);
    sqlite3_close(handle);
    return names;
  };
  const std::string before = tables();
  ASSERT_EQ(before.find("fec"), std::string::npos);
  try {
    SharedEquivalenceCache cache(db, "task");
    ADD_FAILURE() << "a search's store was taken for a cache";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(db + ": not a nos equivalence cache"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nothing was written to it"), std::string::npos) << e.what();
  }
  EXPECT_EQ(tables(), before);
  // Damaged rows: an unknown status, a reward no evaluation gives.
  const std::string path = dir.path() + "/fec.db";
  const dsl::Fingerprint f = dsl::fingerprint(dsl::compile(dsl::parse("sign(g)")));
  {
    SharedEquivalenceCache cache(path, "task");
    Evaluation e;
    e.canonical = "sign(g)";
    e.status = tasks::Status::kOk;
    e.reward = 0.5;
    e.val_acc = 0.5;
    e.lr = 0.01;
    cache.put(f, e);
    ASSERT_TRUE(cache.find(f).has_value());
  }
  for (const char* damage : {"UPDATE fec SET reward = 1e308", "UPDATE fec SET reward = 0.5, status = 'great'",
                             "UPDATE fec SET status = 'ok', val_acc = 7"}) {
    sqlite3* handle = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &handle), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(handle, damage, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(handle);
    SharedEquivalenceCache cache(path, "task");
    try {
      cache.find(f);
      ADD_FAILURE() << damage << ": read as a result";
    } catch (const UserError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(path + ": the equivalence cache cannot be read: row 1 holds"), std::string::npos) << m;
      EXPECT_NE(m.find("delete the file"), std::string::npos) << m;
    }
  }
}

TEST(SharedEquivalenceCache, ADamagedFileIsAUserErrorNamingIt) {
  testing::TempDir dir;
  const std::string path = dir.file("fec.db", "this is not an SQLite database, just text that is long enough\n");
  SearchConfig config = analytic_config("random");
  config.fec_cache = path;
  SearchRuntime runtime;
  runtime.run_dir = dir.path() + "/run";
  try {
    start_search(config, runtime);
    FAIL() << "a damaged cache file was used";
  } catch (const UserError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find("delete it"), std::string::npos) << m;
  }
  EXPECT_THROW(SharedEquivalenceCache(dir.path() + "/no/such/folder/fec.db", "task"), UserError);
}

}  // namespace
}  // namespace nos::search

namespace nos::search {
namespace {

// max_trained stops the search at a batch boundary once that many children were trained (cached, invalid and
// rejected ones do not count), counting earlier sessions; a resume may raise it.
TEST(Search, MaxTrainedCapsTheChildrenTrained) {
  testing::TempDir dir;
  SearchConfig config = fixtures::analytic_config("random");
  config.budget = 40;
  config.max_trained = 10;
  config.prefilter.enabled = false;  // on Rosenbrock it rejects most random rules
  SearchRuntime runtime;
  runtime.run_dir = dir.path();
  const SearchResult first = start_search(config, runtime);
  EXPECT_TRUE(first.max_trained_reached);
  auto trained = [&] {
    Store store(store_path(dir.path()), Store::Mode::kReadOnly);
    int64_t n = 0;
    for (const Evaluation& e : store.all()) n += !e.cached && e.status != tasks::Status::kInvalid && e.status != tasks::Status::kRejected;
    return std::make_pair(n, static_cast<int64_t>(store.all().size()));
  };
  auto [n1, children1] = trained();
  EXPECT_GE(n1, 10);
  EXPECT_LT(n1, 10 + config.batch_size);  // checked before each batch
  EXPECT_LT(children1, 40);
  config.max_trained = 0;
  const SearchResult rest = resume_search(config, runtime);
  EXPECT_FALSE(rest.max_trained_reached);
  EXPECT_EQ(rest.children, 40);
}

}  // namespace
}  // namespace nos::search

namespace nos::search {
namespace {

// Each seed's record from its seed alone: 5 → 0.1, 6 → 0.5, 7 → diverged (a failed seed counts 0).
class SeedEvaluator : public tasks::Evaluator {
 public:
  tasks::EvalRecord evaluate(const tasks::EvalRequest& request) override {
    tasks::EvalRecord r;
    r.rule = request.rule;
    r.task = request.task;
    r.seed = request.seed;
    r.status = request.seed == 7 ? tasks::Status::kDiverged : tasks::Status::kOk;
    r.reward = request.seed == 5 ? 0.1 : request.seed == 6 ? 0.5 : 0.0;
    r.val_acc = r.reward;
    r.lr = 0.01;
    std::lock_guard<std::mutex> lock(mutex_);
    ++calls_[request.seed];
    return r;
  }
  std::map<uint64_t, int> calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<uint64_t, int> calls_;
};

TEST(Fitness, AggregatesSeedsByMeanOrMedian) {
  auto record = [](const std::string& status, double reward) {
    tasks::EvalRecord r;
    r.status = tasks::parse_status(status);
    r.reward = reward;
    r.val_acc = reward;
    r.seconds = 1;
    return r;
  };
  const std::vector<tasks::EvalRecord> three = {record("ok", 0.1), record("ok", 0.5), record("diverged", 0)};
  FitnessSettings mean{3, "mean"}, median{3, "median"};
  const tasks::EvalRecord m = aggregate_fitness(three, mean);
  EXPECT_NEAR(m.reward, 0.2, 1e-15);
  EXPECT_EQ(m.status, tasks::Status::kOk);
  EXPECT_EQ(m.message, "seeds 0.1 0.5 diverged: mean 0.2");
  EXPECT_NEAR(m.val_acc, 0.2, 1e-15);  // the mean of the finite accuracies
  EXPECT_EQ(m.seconds, 3);
  EXPECT_NEAR(aggregate_fitness(three, median).reward, 0.1, 1e-15);
  // A seed stopped at its hurdle: the child is hurdled; no seed earned a reward: the first seed's status.
  EXPECT_EQ(aggregate_fitness({record("ok", 0.4), record("hurdle", 0.2)}, mean).status, tasks::Status::kHurdle);
  const tasks::EvalRecord none = aggregate_fitness({record("timeout", 0), record("diverged", 0)}, mean);
  EXPECT_EQ(none.status, tasks::Status::kTimeout);
  EXPECT_EQ(none.reward, 0);
  // One seed: its record unchanged.
  EXPECT_EQ(aggregate_fitness({record("ok", 0.3)}, mean).message, "");
}

// fitness.seeds: every trained child is evaluated once per seed (task.seed, +1, +2), and stored with the aggregate.
TEST(Fitness, ASearchEvaluatesEveryChildOnEachSeed) {
  for (const char* aggregate : {"mean", "median"}) {
    testing::TempDir dir;
    SearchConfig config = fixtures::analytic_config("random");
    config.budget = 8;
    config.prefilter.enabled = false;
    config.task.seed = 5;
    config.fitness = {3, aggregate};
    auto evaluator = std::make_shared<SeedEvaluator>();
    SearchRuntime runtime;
    runtime.run_dir = dir.path();
    runtime.evaluator = evaluator;
    start_search(config, runtime);
    Store store(store_path(dir.path()), Store::Mode::kReadOnly);
    int trained = 0;
    for (const Evaluation& e : store.all()) {
      if (e.cached || e.status == tasks::Status::kInvalid) continue;
      ++trained;
      EXPECT_EQ(e.status, tasks::Status::kOk) << e.message;
      EXPECT_NEAR(e.reward, std::string(aggregate) == "mean" ? 0.2 : 0.1, 1e-12) << e.message;
      EXPECT_EQ(e.message, std::string("seeds 0.1 0.5 diverged: ") + aggregate + " " +
                               (std::string(aggregate) == "mean" ? "0.2" : "0.1"));
    }
    ASSERT_GT(trained, 0);
    const std::map<uint64_t, int> calls = evaluator->calls();
    ASSERT_EQ(calls.size(), 3u);
    for (const auto& [seed, n] : calls) EXPECT_EQ(n, trained) << "seed " << seed;
  }
}

// Per task and seed: rosenbrock 0.6 + 0.1·(seed − 5), beale 0.2 + 0.1·(seed − 5); the baseline "adam" 0.1 lower on
// each. Counts the calls per (rule is adam, task).
class TaskEvaluator : public tasks::Evaluator {
 public:
  tasks::EvalRecord evaluate(const tasks::EvalRequest& request) override {
    tasks::EvalRecord r;
    r.rule = request.rule;
    r.task = request.task;
    r.seed = request.seed;
    r.status = tasks::Status::kOk;
    const bool baseline = request.rule == "adam";
    // A third of the rules (by text length) diverge on every task: the search must give them the fitness floor.
    if (!baseline && request.rule.size() % 3 == 0) {
      r.status = tasks::Status::kDiverged;
      r.reward = r.val_acc = std::nan("");
      std::lock_guard<std::mutex> lock(mutex_);
      ++calls_[{baseline, request.task}];
      return r;
    }
    r.reward = (request.task == "rosenbrock" ? 0.6 : 0.2) + 0.1 * (static_cast<double>(request.seed) - 5) -
               (baseline ? 0.1 : 0.0);
    r.val_acc = r.reward;
    r.lr = 0.01;
    std::lock_guard<std::mutex> lock(mutex_);
    ++calls_[{baseline, request.task}];
    return r;
  }
  int calls(bool baseline, const std::string& task) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = calls_.find({baseline, task});
    return found == calls_.end() ? 0 : found->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<bool, std::string>, int> calls_;
};

// fitness.tasks and fitness.baseline: per task the seeds' aggregate minus the baseline's, then the mean or median
// over the tasks; a child that earns nothing gets what accuracy 0 would.
TEST(Fitness, CombinesTasksAgainstABaseline) {
  auto record = [](const std::string& status, double reward) {
    tasks::EvalRecord r;
    r.status = tasks::parse_status(status);
    r.reward = reward;
    r.val_acc = reward;
    r.seconds = 1;
    return r;
  };
  SearchConfig config = fixtures::analytic_config("random");
  config.fitness.seeds = 2;
  FitnessTask beale;
  beale.settings.task = "beale";
  beale.keys = {"name"};
  FitnessTask rosen;
  rosen.settings.task = "rosenbrock";
  rosen.settings.steps = 50;
  rosen.keys = {"name", "steps"};
  config.fitness.tasks = {beale, rosen};
  config.fitness.baseline = "adam";
  ASSERT_EQ(fitness_task_count(config), 3u);
  EXPECT_EQ(fitness_task(config, 2).steps, 50);
  EXPECT_EQ(fitness_task(config, 1).steps, config.task.steps);  // the task: section's where the entry is silent
  // Task 0: seeds 0.8 and 0.6 (0.7); task 1: 0.3 and diverged (0.15); task 2: 0.5 and 0.5.
  const std::vector<tasks::EvalRecord> records = {record("ok", 0.8), record("ok", 0.6), record("ok", 0.3),
                                                  record("diverged", 0), record("ok", 0.5), record("ok", 0.5)};
  const std::vector<double> baselines = {0.6, 0.1, 0.55};
  const tasks::EvalRecord mean = combine_fitness(records, config, baselines);
  EXPECT_NEAR(mean.reward, (0.1 + 0.05 - 0.05) / 3, 1e-12);
  EXPECT_EQ(mean.status, tasks::Status::kOk);
  EXPECT_NEAR(mean.val_acc, 0.7, 1e-12);  // the first task's
  EXPECT_EQ(mean.seconds, 6);
  EXPECT_NE(mean.message.find("beale 0.15 - adam"), std::string::npos) << mean.message;
  config.fitness.aggregate = "median";
  EXPECT_NEAR(combine_fitness(records, config, baselines).reward, 0.05, 1e-12);
  // Without a baseline: the tasks' rewards themselves.
  config.fitness.aggregate = "mean";
  EXPECT_NEAR(combine_fitness(records, config, {}).reward, (0.7 + 0.15 + 0.5) / 3, 1e-12);
  // Nothing earned anywhere: the floor, the first task's status.
  const std::vector<tasks::EvalRecord> failed(6, record("diverged", 0));
  const tasks::EvalRecord none = combine_fitness(failed, config, baselines);
  EXPECT_EQ(none.status, tasks::Status::kDiverged);
  EXPECT_NEAR(none.reward, fitness_floor(config.fitness, baselines), 1e-12);
  EXPECT_NEAR(fitness_floor(config.fitness, baselines), -1.25 / 3, 1e-12);
  EXPECT_EQ(fitness_floor(config.fitness, {}), 0);
}

// A search with two tasks and a baseline: every trained child is evaluated on each task and seed, the baseline once
// per task and seed for the whole run (kept in the store: a resume evaluates it no more), rewards are normalised
// (the child is 0.1 better than adam on each: reward 0.1), and a child that earns nothing gets the floor.
TEST(Fitness, ASearchEvaluatesEachTaskAgainstTheBaseline) {
  testing::TempDir dir;
  SearchConfig config = fixtures::analytic_config("random");
  config.budget = 8;
  config.prefilter.enabled = false;
  config.task.seed = 5;
  config.fitness.seeds = 2;
  FitnessTask beale;
  beale.settings.task = "beale";
  beale.keys = {"name"};
  config.fitness.tasks = {beale};
  config.fitness.baseline = "adam";
  auto evaluator = std::make_shared<TaskEvaluator>();
  SearchRuntime runtime;
  runtime.run_dir = dir.path();
  runtime.evaluator = evaluator;
  start_search(config, runtime);
  EXPECT_EQ(evaluator->calls(true, "rosenbrock"), 2);
  EXPECT_EQ(evaluator->calls(true, "beale"), 2);
  int trained = 0, floored = 0;
  {
    Store store(store_path(dir.path()), Store::Mode::kReadOnly);
    std::istringstream stored(store.meta("fitness_baseline").value_or(""));
    double rosenbrock = 0, beale_reward = 0;
    stored >> rosenbrock >> beale_reward;
    EXPECT_NEAR(rosenbrock, 0.55, 1e-12);  // adam on seeds 5 and 6
    EXPECT_NEAR(beale_reward, 0.15, 1e-12);
    for (const Evaluation& e : store.all()) {
      if (e.cached) continue;
      if (e.status == tasks::Status::kInvalid || e.status == tasks::Status::kDiverged) {
        ++floored;
        EXPECT_NEAR(e.reward, -(0.55 + 0.15) / 2, 1e-12) << e.status;
        continue;
      }
      ++trained;
      EXPECT_NEAR(e.reward, 0.1, 1e-12) << e.message;
      EXPECT_NEAR(e.val_acc, 0.65, 1e-12);  // rosenbrock's seeds
    }
  }
  ASSERT_GT(trained, 0);
  EXPECT_GT(floored, 0);  // the floor branch ran
  EXPECT_EQ(evaluator->calls(false, "rosenbrock"), 2 * (trained + floored));
  EXPECT_EQ(evaluator->calls(false, "beale"), 2 * (trained + floored));
  config.budget = 16;
  resume_search(config, runtime);
  EXPECT_EQ(evaluator->calls(true, "rosenbrock"), 2);  // not evaluated again
}

}  // namespace
}  // namespace nos::search
