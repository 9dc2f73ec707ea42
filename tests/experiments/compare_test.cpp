// Tests of the experiments module (nos compare's library): config schema, rule rows, the plan, seed statistics,
// journal resume, report files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "experiments/journal.h"
#include "experiments/experiments.h"
#include "search/search.h"
#include "tests/tasks/quadrants.h"
#include "tests/temp_dir.h"

namespace nos::experiments {
namespace {

using nos::testing::TempDir;
using search::Evaluation;
using search::Store;
using dispatch::ThreadPool;

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool exists(const std::string& path) { return std::ifstream(path).good(); }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// RFC 4180 reader for the checks: fields of one line (quoted fields may hold commas and doubled quotes).
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

// An evaluator whose answers are known: validation accuracy 0.9 at lr 0.01 and 0.6 elsewhere for tuning runs
// (budget 1 epoch), diverged at lr >= 1 and for the rule "g*1000" at any lr; full runs give 0.80 + 0.01·seed after
// the last epoch (epoch e: that minus 0.1·(epochs − e)), test accuracy 0.02 below, train loss 1/(e + seed).
class KnownEvaluator : public tasks::Evaluator {
 public:
  tasks::EvalRecord evaluate(const tasks::EvalRequest& r) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++calls_;
      requests_.push_back(r);
    }
    tasks::EvalRecord rec;
    rec.rule = r.rule;
    rec.canonical = r.rule;
    rec.task = r.task;
    rec.lr = r.lr;
    rec.seed = r.seed;
    rec.data = "known data (test double)";
    rec.steps_per_epoch = 10;
    rec.total_steps = 10 * r.epochs;
    if (r.lr >= 1 || r.rule == "g*1000") {
      rec.status = tasks::Status::kDiverged;
      rec.message = "loss nan";
      rec.val_acc = rec.test_acc = std::nan("");
      return rec;
    }
    rec.status = tasks::Status::kOk;
    const bool tuning = r.epochs == 1;
    const double last = tuning ? (r.lr == 0.01 ? 0.9 : 0.6) : 0.80 + 0.01 * static_cast<double>(r.seed);
    for (int64_t e = 1; e <= r.epochs; ++e) {
      tasks::EpochMetrics m;
      m.epoch = e;
      m.steps = 10 * e;
      m.val_acc = last - 0.1 * static_cast<double>(r.epochs - e);
      m.test_acc = m.val_acc - 0.02;
      m.train_loss = 1.0 / static_cast<double>(e + static_cast<int64_t>(r.seed));
      m.seconds = 2.0;
      m.lr = r.lr;
      rec.epochs.push_back(m);
    }
    rec.val_acc = rec.epochs.back().val_acc;
    rec.test_acc = rec.epochs.back().test_acc;
    rec.reward = rec.val_acc;
    rec.final_loss = rec.epochs.back().train_loss;
    rec.seconds = 2.0 * static_cast<double>(r.epochs);
    return rec;
  }
  int calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }
  std::vector<tasks::EvalRequest> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  mutable std::mutex mutex_;
  int calls_ = 0;
  std::vector<tasks::EvalRequest> requests_;
};

// The known evaluator's accuracies follow the seed number: these tests run seeds from 0, tuned on seed 0, as
// report folders made before the purpose split did (ComparePlan.TheFinalSeedsExcludeTheTuningSeed: today's).
CompareConfig known_config(const std::string& out) {
  CompareConfig c;
  c.split = "legacy";
  c.first_seed = 0;
  c.tune_seed = 0;
  c.rules = {"adam", "clip(g,0.001)+m"};
  c.native_references = false;
  c.task = "fmnist-logreg";
  c.epochs = 3;
  c.seeds = 3;
  c.lr_grid = {0.001, 0.01, 0.1, 1};
  c.tune_epochs = 1;
  c.jobs = 2;
  c.out = out;
  return c;
}

struct KnownRun {
  CompareResult result;
  int calls = 0;
};

KnownRun run_known(const CompareConfig& config, const ReportContext& context = {}) {
  auto evaluator = std::make_shared<KnownEvaluator>();
  ThreadPool pool(evaluator, config.jobs);
  CompareRuntime runtime;
  runtime.pool = &pool;
  runtime.context = context;
  runtime.context.command = "nos compare (test)";
  KnownRun run;
  run.result = run_compare(config, resolve_rows(config, "test"), runtime);
  run.calls = evaluator->calls();
  return run;
}

// --- the protocol -----------------------------------------------------------------------------------------------

TEST(CompareProtocol, StatIsMeanAndSampleStd) {
  const Stat s = stat_of({0.80, 0.81, 0.82});
  EXPECT_EQ(s.n, 3);
  EXPECT_NEAR(s.mean, 0.81, 1e-12);
  EXPECT_NEAR(s.std, 0.01, 1e-12);  // sqrt((0.01² + 0 + 0.01²) / 2)
  EXPECT_EQ(s.min, 0.80);
  EXPECT_EQ(s.max, 0.82);
  const Stat one = stat_of({0.5, std::nan("")});
  EXPECT_EQ(one.n, 1);
  EXPECT_EQ(one.mean, 0.5);
  EXPECT_TRUE(std::isnan(one.std));
  EXPECT_EQ(stat_of({}).n, 0);
}

TEST(CompareProtocol, TunesThenRunsSeedsAtTheBestLr) {
  TempDir dir;
  const CompareConfig config = known_config(dir.path() + "/report");
  KnownRun run = run_known(config);
  // 2 rules x 4 lrs of tuning, then 2 rules x 3 seeds.
  EXPECT_EQ(run.calls, 2 * 4 + 2 * 3);
  EXPECT_EQ(run.result.total, 14);
  EXPECT_EQ(run.result.executed, 14);
  EXPECT_EQ(run.result.skipped, 0);
  ASSERT_EQ(run.result.summary.size(), 2u);
  for (const RowSummary& s : run.result.summary) {
    SCOPED_TRACE(s.row.label);
    EXPECT_EQ(s.lr, 0.01);
    EXPECT_EQ(s.tuning, "chosen");
    EXPECT_EQ(s.seeds_ok, 3);
    EXPECT_EQ(s.statuses, "3 ok");
    // Seeds give 0.80, 0.81, 0.82 after the last epoch.
    EXPECT_NEAR(s.final_val.mean, 0.81, 1e-12);
    EXPECT_NEAR(s.final_val.std, 0.01, 1e-12);
    EXPECT_NEAR(s.best_val.mean, 0.81, 1e-12);
    EXPECT_NEAR(s.final_test.mean, 0.79, 1e-12);
    // Train loss after epoch 3: 1/3, 1/4, 1/5.
    EXPECT_NEAR(s.final_train_loss.mean, (1.0 / 3 + 1.0 / 4 + 1.0 / 5) / 3, 1e-12);
    EXPECT_NEAR(s.seconds_per_epoch, 2.0, 1e-12);
  }
}

// Every run gets the config's recipe; with a schedule a tuning run stands for the first tune_epochs of the full run
// (horizon_epochs = epochs: its schedule truncated, not compressed), without one it is its own run, as before.
TEST(CompareProtocol, WithAScheduleTuningRunsFollowTheFullRunsSchedule) {
  for (const bool scheduled : {true, false}) {
    TempDir dir;
    CompareConfig config = known_config(dir.path() + "/report");
    config.recipe = tasks::parse_recipe_text(scheduled ? "schedule: cosine,warmup=0.1; clip_norm: 1" : "clip_norm: 1",
                                             "test");
    auto evaluator = std::make_shared<KnownEvaluator>();
    ThreadPool pool(evaluator, config.jobs);
    CompareRuntime runtime;
    runtime.pool = &pool;
    run_compare(config, resolve_rows(config, "test"), runtime);
    int tuning = 0;
    for (const tasks::EvalRequest& r : evaluator->requests()) {
      EXPECT_EQ(tasks::recipe_text(r.recipe), tasks::recipe_text(config.recipe));
      EXPECT_EQ(r.split, "legacy");  // the comparison's validation images reach every run
      const bool tune = r.epochs == config.tune_epochs;
      tuning += tune;
      EXPECT_EQ(r.horizon_epochs, tune && scheduled ? config.epochs : 0) << r.rule << " lr " << r.lr;
    }
    EXPECT_EQ(tuning, 8);
    const std::string md = read(config.out + "/report.md");
    EXPECT_EQ(contains(md, "| lr schedule | cosine,warmup=0.1 (the tuned lr is its peak) |"), scheduled) << md;
    EXPECT_EQ(contains(md, "a tuning run follows the full run's schedule, truncated"), scheduled) << md;
    EXPECT_TRUE(contains(md, "| gradient clipping | global norm 1 |")) << md;
  }
}

TEST(CompareProtocol, EveryLrDivergedGivesNoSeeds) {
  TempDir dir;
  CompareConfig config = known_config(dir.path() + "/report");
  config.rules = {"adam", "g*1000"};
  KnownRun run = run_known(config);
  EXPECT_EQ(run.calls, 4 + 3 + 4);
  ASSERT_EQ(run.result.summary.size(), 2u);
  EXPECT_EQ(run.result.summary[1].tuning, "every lr diverged");
  EXPECT_TRUE(std::isnan(run.result.summary[1].lr));
  EXPECT_EQ(run.result.summary[1].seeds_ok, 0);
  const std::string report = read(config.out + "/report.md");
  EXPECT_TRUE(contains(report, "every lr diverged")) << report;
  // The report says how to reproduce it from scratch (a fresh folder) and how to resume this one.
  const std::string config_path = config.out + "/config.yaml";
  EXPECT_TRUE(contains(report, "## Reproduce")) << report;
  EXPECT_TRUE(contains(report, "nos compare --config " + config_path + " --out runs/report\n")) << report;
  EXPECT_TRUE(contains(report, "nos compare --config " + config_path + " --out " + config.out + "\n")) << report;
  EXPECT_TRUE(contains(read(config_path), "--out runs/NAME"));
}

TEST(CompareProtocol, EqualTuningAndFullBudgetReuseTheTuningRunAsSeedZero) {
  TempDir dir;
  CompareConfig config = known_config(dir.path() + "/report");
  config.rules = {"adam"};
  config.epochs = 1;
  KnownRun run = run_known(config);
  EXPECT_EQ(run.calls, 4 + 2);  // seeds 1 and 2; seed 0 is the tuning run at the chosen lr
  EXPECT_EQ(run.result.summary[0].seeds_ok, 3);
  EXPECT_EQ(run.result.summary[0].lr, 0.01);
}

// --- journal and resume -----------------------------------------------------------------------------------------

TEST(CompareResume, SecondRunExecutesNothingAndWritesTheSameCsvs) {
  TempDir dir;
  const CompareConfig config = known_config(dir.path() + "/report");
  run_known(config);
  const std::string results = read(config.out + "/results.csv");
  const std::string summary = read(config.out + "/summary.csv");
  const std::string tuning = read(config.out + "/tuning.csv");
  KnownRun again = run_known(config);
  EXPECT_EQ(again.calls, 0);
  EXPECT_EQ(again.result.executed, 0);
  EXPECT_EQ(again.result.skipped, 14);
  EXPECT_EQ(read(config.out + "/results.csv"), results);
  EXPECT_EQ(read(config.out + "/summary.csv"), summary);
  EXPECT_EQ(read(config.out + "/tuning.csv"), tuning);
  EXPECT_EQ(lines(read(config.out + "/" + kCompareJournal)).size(), 14u);
  // Only jobs may change between runs of a folder.
  CompareConfig more_jobs = config;
  more_jobs.jobs = 3;
  EXPECT_EQ(run_known(more_jobs).calls, 0);
}

TEST(CompareResume, InterruptedJournalIsCompletedWithoutDuplicates) {
  TempDir dir;
  const CompareConfig config = known_config(dir.path() + "/full");
  run_known(config);
  const std::vector<std::string> journal = lines(read(config.out + "/" + kCompareJournal));
  ASSERT_EQ(journal.size(), 14u);

  // Half the runs (the first rule's tuning and seeds, part of the second's tuning), then a line cut short: a folder
  // as a killed comparison leaves it.
  CompareConfig partial = config;
  partial.out = dir.path() + "/partial";
  std::filesystem::create_directories(partial.out);
  std::ofstream(partial.out + "/" + kCompareConfig) << read(config.out + "/" + kCompareConfig);
  std::string text;
  for (size_t i = 0; i < 7; ++i) text += journal[i] + "\n";
  text += journal[7].substr(0, journal[7].size() / 2);  // no newline: the write was interrupted
  std::ofstream(partial.out + "/" + kCompareJournal, std::ios::trunc) << text;

  KnownRun resumed = run_known(partial);
  EXPECT_EQ(resumed.calls, 14 - 7);
  EXPECT_EQ(resumed.result.skipped, 7);
  const std::vector<std::string> after = lines(read(partial.out + "/" + kCompareJournal));
  EXPECT_EQ(after.size(), 14u);
  std::set<std::string> distinct(after.begin(), after.end());
  EXPECT_EQ(distinct.size(), 14u);
  EXPECT_EQ(read(partial.out + "/results.csv"), read(config.out + "/results.csv"));
  EXPECT_EQ(read(partial.out + "/summary.csv"), read(config.out + "/summary.csv"));
}

TEST(CompareResume, DamagedJournalLineIsAUserError) {
  TempDir dir;
  const CompareConfig config = known_config(dir.path() + "/report");
  run_known(config);
  std::ofstream(config.out + "/" + kCompareJournal, std::ios::app) << "not json\n{\"phase\":\"tune\"}\n";
  try {
    run_known(config);
    FAIL() << "damaged journal accepted";
  } catch (const UserError& e) {
    EXPECT_TRUE(contains(e.what(), "runs.jsonl:15")) << e.what();
  }
}

TEST(CompareResume, AnotherConfigInTheSameFolderIsAUserErrorNamingTheKeys) {
  TempDir dir;
  const CompareConfig config = known_config(dir.path() + "/report");
  run_known(config);
  CompareConfig other = config;
  other.epochs = 5;
  other.rules = {"adam"};
  try {
    run_known(other);
    FAIL() << "a different config was accepted";
  } catch (const UserError& e) {
    EXPECT_TRUE(contains(e.what(), "epochs: 3 in the folder, 5 now")) << e.what();
    EXPECT_TRUE(contains(e.what(), "rules:")) << e.what();
    EXPECT_TRUE(contains(e.what(), "another --out")) << e.what();
  }
}

// A key the folder's config.yaml does not write reads as its default: a key added to the schema later (with the
// default that reproduces the old behaviour) leaves old report folders usable.
TEST(CompareResume, AKeyAbsentFromTheFoldersConfigReadsAsItsDefault) {
  TempDir dir;
  const CompareConfig config = known_config(dir.path() + "/report");
  run_known(config);
  const std::string path = config.out + "/" + kCompareConfig;
  std::string text;
  for (const std::string& line : lines(read(path))) {
    if (line.rfind("batch_size:", 0) == 0 || line.rfind("validation_size:", 0) == 0) continue;  // defaults here
    text += line + "\n";
  }
  ASSERT_NE(text, read(path));
  std::ofstream(path, std::ios::trunc) << text;
  EXPECT_EQ(run_known(config).calls, 0);
  // An absent key whose default is not this comparison's value is a difference: task is fmnist-logreg here.
  std::string no_task;
  for (const std::string& line : lines(text)) {
    if (line.rfind("task:", 0) != 0) no_task += line + "\n";
  }
  std::ofstream(path, std::ios::trunc) << no_task;
  try {
    run_known(config);
    FAIL() << "a folder of another task was accepted";
  } catch (const UserError& e) {
    EXPECT_TRUE(contains(e.what(), "task: \"fmnist-convnet\" in the folder, \"fmnist-logreg\" now")) << e.what();
  }
}

TEST(CompareResume, ASecondProcessInTheSameFolderIsRefused) {
  TempDir dir;
  const CompareConfig config = known_config(dir.path() + "/report");
  run_known(config);
  // Another comparison holds the folder's lock (flock locks belong to open file descriptions, so a second open in
  // this process stands for another process).
  const std::string lock_path = config.out + "/.lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  try {
    run_known(config);
    ADD_FAILURE() << "a locked folder was used";
  } catch (const UserError& e) {
    EXPECT_TRUE(contains(e.what(), "another nos is running a comparison in the report folder")) << e.what();
  }
  ::close(fd);
  EXPECT_EQ(run_known(config).calls, 0);
}

// --- report files -----------------------------------------------------------------------------------------------

TEST(CompareReport, CsvColumnsRowsAndQuoting) {
  TempDir dir;
  const CompareConfig config = known_config(dir.path() + "/report");
  run_known(config);
  const std::vector<std::string> results = lines(read(config.out + "/results.csv"));
  ASSERT_EQ(results.size(), 1u + 2 * 3 * 3);  // header + rules x seeds x epochs
  EXPECT_EQ(results[0], "rule,canonical,kind,lr,seed,epoch,steps,train_loss,val_acc,test_acc,seconds,status");
  for (const std::string& line : results) EXPECT_EQ(csv_fields(line).size(), 12u) << line;
  // The DSL rule holds a comma: quoted, and read back whole.
  const std::vector<std::string> last = csv_fields(results.back());
  EXPECT_EQ(last[0], "clip(g,0.001)+m");
  EXPECT_EQ(results.back().rfind("\"clip(g,0.001)+m\",", 0), 0u) << results.back();
  EXPECT_EQ(last[2], "dsl");
  EXPECT_EQ(last[3], "0.01");
  EXPECT_EQ(last[4], "2");
  EXPECT_EQ(last[5], "3");
  EXPECT_EQ(last[6], "30");
  EXPECT_NEAR(std::stod(last[8]), 0.82, 1e-12);
  EXPECT_EQ(last[11], "ok");

  const std::vector<std::string> summary = lines(read(config.out + "/summary.csv"));
  ASSERT_EQ(summary.size(), 3u);
  const std::vector<std::string> header = csv_fields(summary[0]);
  EXPECT_EQ(header.size(), 19u);
  EXPECT_EQ(header[6], "final_val_mean");
  const std::vector<std::string> adam = csv_fields(summary[1]);
  ASSERT_EQ(adam.size(), 19u);
  EXPECT_EQ(adam[0], "adam");
  EXPECT_EQ(adam[3], "0.01");
  EXPECT_NEAR(std::stod(adam[6]), 0.81, 1e-12);
  EXPECT_NEAR(std::stod(adam[7]), 0.01, 1e-12);
  EXPECT_EQ(adam[18], "3 ok");

  const std::vector<std::string> tuning = lines(read(config.out + "/tuning.csv"));
  ASSERT_EQ(tuning.size(), 1u + 2 * 4);
  EXPECT_EQ(tuning[0], "rule,canonical,kind,lr,seed,epochs,val_acc,train_loss,seconds,status,chosen");
  const std::vector<std::string> diverged = csv_fields(tuning[4]);  // adam at lr 1
  EXPECT_EQ(diverged[3], "1");
  EXPECT_EQ(diverged[6], "");
  EXPECT_EQ(diverged[9], "diverged");
  EXPECT_EQ(csv_fields(tuning[2])[10], "true");

  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
}

TEST(CompareReport, MarkdownHasTheTableSettingsProtocolAndProvenance) {
  TempDir dir;
  const CompareConfig config = known_config(dir.path() + "/report");
  ReportContext context;
  context.machine = "Test CPU 9000";
  context.cores = 2;
  context.libtorch_version = "1.13.1";
  context.nos_version = "0.1.0";
  context.git_commit = "abc1234";
  run_known(config, context);
  const std::string md = read(config.out + "/report.md");
  EXPECT_TRUE(contains(md, "| rule | kind | lr | final val | best val | final test | best test | final train loss")) << md;
  EXPECT_TRUE(contains(md, "| adam | dsl | 0.01 | 0.8100 ± 0.0100 |")) << md;
  EXPECT_TRUE(contains(md, "clip(g,0.001)+m")) << md;
  EXPECT_TRUE(contains(md, "known data (test double)")) << md;
  EXPECT_TRUE(contains(md, "## Protocol")) << md;
  EXPECT_TRUE(contains(md, "ties go to the smaller lr")) << md;
  EXPECT_TRUE(contains(md, "Test CPU 9000, 2 cores")) << md;
  EXPECT_TRUE(contains(md, "git abc1234")) << md;
  EXPECT_TRUE(contains(md, "1.13.1")) << md;
  EXPECT_TRUE(contains(md, "| lr schedule | constant |")) << md;
  EXPECT_TRUE(contains(md, "| weight decay | each rule's own")) << md;
  EXPECT_TRUE(contains(md, "| gradient clipping | none |")) << md;
  EXPECT_FALSE(contains(md, "Incomplete")) << md;
  EXPECT_FALSE(contains(md, "JPEG")) << md;
  // Without gnuplot the note says so, and the data and script are still written.
  EXPECT_TRUE(contains(md, "gnuplot was not found")) << md;
  EXPECT_TRUE(exists(config.out + "/plots/plots.gp"));
  EXPECT_TRUE(exists(config.out + "/plots/row-1.dat"));
}

TEST(CompareReport, JpegCifarIsNamedInTheReport) {
  TempDir dir;
  CompareConfig config = known_config(dir.path() + "/report");
  config.rules = {"adam"};
  std::vector<CompareRun> journal;
  tasks::EvalRecord r;
  r.rule = "adam";
  r.status = tasks::Status::kOk;
  r.lr = 0.01;
  r.data = "CIFAR-10 (Krizhevsky 2009), JPEG copy in /x (re-encoded as JPEG: pixels differ slightly ...)";
  journal.push_back({"tune", 1, r});
  write_compare_report(config, resolve_rows(config, "test"), journal, {}, 1.0);
  const std::string md = read(config.out + "/report.md");
  EXPECT_TRUE(contains(md, "CIFAR-10 came from the JPEG copy")) << md;
  EXPECT_TRUE(contains(md, "Incomplete")) << md;
}

TEST(CompareReport, GnuplotMakesBothPngs) {
  const std::string gnuplot = "/usr/bin/gnuplot";
  if (!exists(gnuplot)) GTEST_SKIP() << "gnuplot is not installed (scripts/setup.sh installs gnuplot-nox)";
  TempDir dir;
  const CompareConfig config = known_config(dir.path() + "/report");
  ReportContext context;
  context.gnuplot = gnuplot;
  KnownRun run = run_known(config, context);
  EXPECT_TRUE(run.result.notes.empty()) << run.result.notes.front();
  for (const char* png : {"test_acc.png", "train_loss.png"}) {
    const std::string bytes = read(config.out + "/" + png);
    ASSERT_GT(bytes.size(), 1000u) << png;
    EXPECT_EQ(bytes.substr(1, 3), "PNG") << png;
  }
  const std::string gp = read(config.out + "/plots/plots.gp");
  EXPECT_TRUE(contains(gp, "filledcurves")) << gp;
  EXPECT_TRUE(contains(gp, "title \"clip(g,0.001)+m\"")) << gp;
  const std::string md = read(config.out + "/report.md");
  EXPECT_TRUE(contains(md, "![test accuracy per epoch](test_acc.png)")) << md;
  // The data file: epoch, test mean/min/max, loss mean/min/max, seeds.
  const std::vector<std::string> dat = lines(read(config.out + "/plots/row-1.dat"));
  ASSERT_EQ(dat.size(), 2u + 3);
  std::istringstream last(dat.back());
  double epoch, mean, min, max;
  last >> epoch >> mean >> min >> max;
  EXPECT_EQ(epoch, 3);
  EXPECT_NEAR(mean, 0.79, 1e-12);
  EXPECT_NEAR(min, 0.78, 1e-12);
  EXPECT_NEAR(max, 0.80, 1e-12);
}

// --- config and rows --------------------------------------------------------------------------------------------

TEST(CompareConfig, YamlRoundTripsAndDefaults) {
  CompareConfig c = parse_compare_config(
      "rules: [adam, \"clip(g, 0.001)\"]\ntask: cifar10-convnet\nepochs: 5\nseeds: 2\nlr_grid: [0.001, 0.1]\n"
      "tune_epochs: 2\naugment: true\njobs: 3\nout: runs/x\n",
      "c.yaml");
  EXPECT_EQ(c.rules, (std::vector<std::string>{"adam", "clip(g, 0.001)"}));
  EXPECT_EQ(c.task, "cifar10-convnet");
  EXPECT_EQ(c.epochs, 5);
  EXPECT_EQ(c.seeds, 2);
  EXPECT_EQ(c.lr_grid, (std::vector<double>{0.001, 0.1}));
  EXPECT_EQ(c.tune_epochs, 2);
  EXPECT_TRUE(c.augment);
  EXPECT_EQ(c.jobs, 3);
  EXPECT_TRUE(c.native_references);
  const CompareConfig back = parse_compare_config(to_yaml(c), "round trip");
  EXPECT_EQ(to_yaml(back), to_yaml(c));
  EXPECT_FALSE(contains(to_yaml(c, false), "jobs"));
  EXPECT_EQ(compare_config_keys().front(), "rules");
  // The training recipe: written only when set (a folder made before these keys existed is the same comparison),
  // read as flag text or a mapping, and a difference that sets two folders apart.
  EXPECT_FALSE(contains(to_yaml(c), "schedule"));
  EXPECT_FALSE(contains(to_yaml(c), "weight_decay"));
  const CompareConfig cosine = parse_compare_config(
      "rules: [adam]\nschedule: {name: cosine, warmup: 0.05}\nweight_decay: 0.0005\nweight_decay_mode: decoupled\n"
      "clip_norm: 5\n",
      "cosine.yaml");
  EXPECT_EQ(tasks::recipe_text(cosine.recipe),
            "schedule: cosine,warmup=0.05; weight_decay: 0.0005; weight_decay_mode: decoupled; clip_norm: 5");
  EXPECT_EQ(to_yaml(parse_compare_config(to_yaml(cosine), "round trip")), to_yaml(cosine));
  CompareConfig constant = cosine;
  constant.recipe.schedule = tasks::Schedule{};
  EXPECT_TRUE(contains(config_differences(constant, cosine), "schedule: (absent) in the folder, \"cosine,warmup=0.05\""))
      << config_differences(constant, cosine);
}

TEST(CompareConfig, UnknownKeysAndBadValuesNameTheKeyAndLine) {
  auto message = [](const std::string& yaml) {
    try {
      parse_compare_config(yaml, "c.yaml");
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_TRUE(contains(message("rules: [adam]\nsedes: 3\n"), "c.yaml:2: key 'sedes': unknown key"));
  EXPECT_TRUE(contains(message("seeds: x\n"), "c.yaml:1: key 'seeds': expected a whole number"));
  EXPECT_TRUE(contains(message("lr_grid: []\n"), "key 'lr_grid'"));
  EXPECT_TRUE(contains(message("lr_grid: [0.1, -1]\n"), "key 'lr_grid[1]'"));
  EXPECT_TRUE(contains(message("lr_grid: [0.1, 0.1]\n"), "0.1 twice"));
  EXPECT_TRUE(contains(message("task: rosenbrock\n"), "analytic objective"));
  EXPECT_TRUE(contains(message("task: mnist-convnet\n"), "unknown task 'mnist-convnet'"));
  EXPECT_TRUE(contains(message("epochs: 2\ntune_epochs: 3\n"), "key 'tune_epochs'"));
  EXPECT_TRUE(contains(message("device: tpu\n"), "key 'device'"));
  EXPECT_TRUE(contains(message("rules: adam\n"), "key 'rules': expected a list"));
  EXPECT_TRUE(contains(message("rules: [adam\n"), "invalid YAML"));
  EXPECT_TRUE(contains(message("schedule: cosine,t_mult=0.5\n"), "c.yaml:1: key 'schedule'"));
  EXPECT_TRUE(contains(message("schedule: warmup\n"), "c.yaml:1: key 'schedule'"));
  EXPECT_TRUE(contains(message("weight_decay: -0.1\n"), "c.yaml:1: key 'weight_decay'"));
  EXPECT_TRUE(contains(message("weight_decay_mask: all\n"), "needs a weight_decay"));
}

TEST(CompareConfig, ShippedConfigsLoad) {
  const CompareConfig fmnist = load_compare_config(std::string(NOS_SOURCE_DIR) + "/configs/compare-fmnist.yaml");
  EXPECT_EQ(fmnist.task, "fmnist-convnet");
  EXPECT_EQ(fmnist.seeds, 3);
  EXPECT_EQ(fmnist.device, "cpu");
  std::vector<CompareRow> rows = resolve_rows(fmnist, "compare-fmnist.yaml");
  std::vector<std::string> labels;
  for (const CompareRow& r : rows) labels.push_back(r.label);
  EXPECT_EQ(labels, (std::vector<std::string>{"adam", "torch-adam", "momentum", "torch-momentum", "powersign",
                                              "powersign-cd", "addsign", "addsign-ld"}));
  const CompareConfig cifar = load_compare_config(std::string(NOS_SOURCE_DIR) + "/configs/compare-cifar10.yaml");
  EXPECT_EQ(cifar.task, "cifar10-convnet");
  EXPECT_EQ(cifar.epochs, 5);
  EXPECT_EQ(cifar.device, "cpu");  // the CPU protocol (issue 43); --device cuda for a GPU
  EXPECT_EQ(cifar.seeds, 5);
  EXPECT_EQ(cifar.split, "confirmation");
  EXPECT_EQ(final_seeds(cifar).front(), 1001u);
  EXPECT_EQ(resolve_rows(cifar, "compare-cifar10.yaml").size(), 13u);  // adamw is a row of its own beside adam
  const CompareConfig wrn = load_compare_config(std::string(NOS_SOURCE_DIR) + "/configs/compare-cifar10-wrn.yaml");
  EXPECT_EQ(wrn.task, "cifar10-wrn-16-4");
  EXPECT_TRUE(wrn.augment);
  EXPECT_EQ(tasks::parse_task_name(wrn.task).model, "wrn-16-4");
  // The newer named rules beside their LibTorch twins; signsgd and signum have none.
  const CompareConfig twins = load_compare_config(std::string(NOS_SOURCE_DIR) + "/configs/compare-twins.yaml");
  labels.clear();
  for (const CompareRow& r : resolve_rows(twins, "compare-twins.yaml")) labels.push_back(r.label);
  EXPECT_EQ(labels, (std::vector<std::string>{"adamw", "torch-adamw", "nesterov", "torch-nesterov", "signsgd",
                                              "signum"}));
  const CompareConfig adamw = load_compare_config(std::string(NOS_SOURCE_DIR) + "/configs/compare-twins-adamw.yaml");
  EXPECT_EQ(adamw.lr_grid, std::vector<double>{1e-3});
  EXPECT_EQ(resolve_rows(adamw, "compare-twins-adamw.yaml").size(), 2u);
}

TEST(CompareRows, NativeReferencesFollowTheirTwinsUnlessListedOrOff) {
  CompareConfig c;
  c.rules = {"powersign", "adam", "momentum", "exp(sign(g)*sign(m))*g*2"};
  std::vector<CompareRow> rows = resolve_rows(c, "test");
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[2].label, "torch-adam");
  EXPECT_EQ(rows[2].kind, "native");
  EXPECT_EQ(rows[2].origin, "reference for adam");
  EXPECT_TRUE(contains(rows[2].canonical, "torch::optim::Adam")) << rows[2].canonical;
  EXPECT_EQ(rows[4].label, "torch-momentum");
  EXPECT_EQ(rows[5].kind, "dsl");
  c.rules = {"torch-adam", "adam"};
  rows = resolve_rows(c, "test");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].label, "torch-adam");
  c.native_references = false;
  c.rules = {"adam"};
  EXPECT_EQ(resolve_rows(c, "test").size(), 1u);
}

TEST(CompareRows, BadEntriesAreUserErrorsNamingTheEntry) {
  auto message = [](const std::vector<std::string>& rules) {
    CompareConfig c;
    c.rules = rules;
    try {
      resolve_rows(c, "--rules");
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_TRUE(contains(message({}), "no rules to compare"));
  const std::string bad = message({"adam", "exp(g)*expp(m)"});
  EXPECT_TRUE(contains(bad, "--rules: rules[1]: 'exp(g)*expp(m)' is not a named rule")) << bad;
  EXPECT_TRUE(contains(bad, "error[E012]")) << bad;
  EXPECT_TRUE(contains(bad, "^~~~")) << bad;
  EXPECT_TRUE(contains(message({"adam", "@/nonexistent/run:top3"}), "no search run in '/nonexistent/run'"));
  EXPECT_TRUE(contains(message({"@runs/x:best"}), "'best' is neither topN nor #K (expected @RUN_DIR, @RUN_DIR:topN"));
  // A bare @RUN_DIR is its best rule (one rule is taken everywhere): here the run is missing.
  EXPECT_TRUE(contains(message({"@runs/x"}), "no search run in 'runs/x'"));
  EXPECT_TRUE(contains(message({"@runs/x:top0"}), "N and K must be whole numbers from 1 to 1000"));
  EXPECT_TRUE(contains(message({"@runs/x:#0"}), "N and K must be whole numbers from 1 to 1000"));
  const std::string twice = message({"g*exp(sign(m)*sign(g))", "powersign"});
  EXPECT_TRUE(contains(twice, "same rule")) << twice;
}

// One rule listed twice (by canonical form: sign(adam) is sign(m)) is an error in a new comparison; in a report
// folder that already holds the comparison (made before the canonicaliser learnt that), both rows are kept and a
// note says so, so the committed folder renders again.
TEST(CompareRows, TheSameRuleTwiceIsAnErrorUnlessTheFolderHoldsIt) {
  TempDir dir;
  CompareConfig c;
  c.native_references = false;
  c.rules = {"drop(adam, 0.1) + sign(m)", "drop(adam, 0.1) + sign(adam)"};
  c.out = dir.path() + "/report";
  std::vector<std::string> notes;
  try {
    resolve_rows(c, "test", &notes);
    ADD_FAILURE() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_TRUE(contains(e.what(), "is the same rule as rules[0]")) << e.what();
  }
  std::filesystem::create_directories(c.out);
  std::ofstream(c.out + "/config.yaml") << to_yaml(c, false);
  EXPECT_EQ(resolve_rows(c, "test", &notes).size(), 2u);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_TRUE(contains(notes[0], "both rows are kept")) << notes[0];
  EXPECT_THROW(resolve_rows(c, "test"), UserError);  // no notes to give: the old error
  // One canonical form, trained otherwise: adamw (adam with its own decoupled decay) is not adam.
  CompareConfig own;
  own.native_references = false;
  own.rules = {"adam", "adamw"};
  EXPECT_EQ(resolve_rows(own, "test").size(), 2u);
}

TEST(CompareRows, RunDirTopNTakesTheBestOkRulesOfASearch) {
  TempDir dir;
  {
    Store store(dir.path() + "/search.db", Store::Mode::kCreate);
    const std::vector<std::tuple<std::string, double, std::string>> rows = {
        {"m", 0.7, "ok"}, {"adam", 0.9, "ok"}, {"g", 0.95, "diverged"}, {"sign(g)", 0.8, "ok"}};
    int64_t slot = 0;
    for (const auto& [canonical, reward, status] : rows) {
      Evaluation e;
      e.batch = 0;
      e.slot = slot++;
      e.proposer = "test";
      e.rule = canonical;
      e.canonical = canonical;
      e.hash = "h" + canonical;
      e.reward = reward;
      e.status = tasks::parse_status(status);
      store.insert(e);
    }
  }
  CompareConfig c;
  c.native_references = false;
  c.rules = {"@" + dir.path() + ":top2", "momentum"};
  const std::vector<CompareRow> rows = resolve_rows(c, "test");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].label, "adam");
  EXPECT_EQ(rows[1].label, "sign(g)");
  EXPECT_TRUE(contains(rows[0].origin, ":top2 #1")) << rows[0].origin;
  EXPECT_EQ(rows[2].label, "momentum");
  // @RUN_DIR:#K is the K-th best alone, @RUN_DIR the best; one rule where one is taken.
  c.rules = {"@" + dir.path() + ":#2"};
  const std::vector<CompareRow> second = resolve_rows(c, "test");
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].label, "sign(g)");
  EXPECT_TRUE(contains(second[0].origin, ":#2 #2")) << second[0].origin;
  EXPECT_EQ(resolve_rule_reference("@" + dir.path(), "--rule"), "adam");
  EXPECT_EQ(resolve_rule_reference("@" + dir.path() + ":#3", "--rule"), "m");
  EXPECT_EQ(resolve_rule_reference("powersign", "--rule"), "powersign");
  EXPECT_THROW(resolve_rule_reference("@" + dir.path() + ":#4", "--rule"), UserError);  // 3 rules with status ok
  EXPECT_THROW(resolve_rule_reference("@" + dir.path() + ":top2", "--rule"), UserError);
}

// A comparison of a search's rules confirms them: not on the search's child seeds (its config.yaml says which: task
// seed 5, 3 fitness seeds → 5, 6, 7), not as the tuning seed either, not on its selection images; legacy may.
TEST(CompareRows, ARunsRulesAreConfirmedOnOtherSeedsAndImages) {
  TempDir dir;
  {
    Store store(dir.path() + "/search.db", Store::Mode::kCreate);
    Evaluation e;
    e.proposer = "test";
    e.rule = e.canonical = "sign(g)";
    e.hash = "h";
    e.reward = 0.9;
    e.status = tasks::Status::kOk;
    store.insert(e);
  }
  search::SearchConfig search_config;
  search_config.task.seed = 5;
  search_config.fitness.seeds = 3;
  std::ofstream(dir.path() + "/config.yaml") << search::to_yaml(search_config);
  CompareConfig c;
  c.native_references = false;
  c.rules = {"@" + dir.path() + ":top1", "adam"};
  EXPECT_EQ(resolve_rows(c, "test").size(), 2u);  // the defaults: tuned on 1000, seeds 1001 … 1003
  auto message = [&](const CompareConfig& config) {
    try {
      resolve_rows(config, "test");
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CompareConfig overlap = c;
  overlap.first_seed = 4;  // 4, 5, 6
  EXPECT_TRUE(contains(message(overlap), "seed 5 trained the search's children and is one of the final seeds"))
      << message(overlap);
  CompareConfig tuning = c;
  tuning.tune_seed = 7;
  EXPECT_TRUE(contains(message(tuning), "seed 7 trained the search's children and is the tuning seed"));
  CompareConfig selection = c;
  selection.split = "selection";
  EXPECT_TRUE(contains(message(selection), "split is selection"));
  overlap.split = "legacy";
  EXPECT_EQ(message(overlap), "no error");
}

TEST(CompareRows, SplitRuleListKeepsCommasInsideParentheses) {
  EXPECT_EQ(split_rule_list("adam, momentum,clip(g,0.001)*m , @runs/a:top3"),
            (std::vector<std::string>{"adam", "momentum", "clip(g,0.001)*m", "@runs/a:top3"}));
  EXPECT_EQ(split_rule_list("\"a,b\",c"), (std::vector<std::string>{"\"a,b\"", "c"}));
  EXPECT_THROW(split_rule_list("adam,,sgd"), UserError);
  EXPECT_THROW(split_rule_list("adam,"), UserError);
  EXPECT_THROW(split_rule_list(" "), UserError);
}

// --- real training --------------------------------------------------------------------------------------------

// 1×8×8 images of 4 classes told apart by which quadrant is bright (as in the evaluator tests).
tasks::Dataset quadrants(int64_t n, uint64_t seed) { return tasks::fixtures::quadrants(n, 1, 8, seed); }

tasks::DataSplits tiny_data(const std::string& dataset, const tasks::DataOptions&) {
  tasks::DataSplits s;
  s.name = dataset;
  s.provenance = "tiny quadrants";
  s.num_classes = 4;
  s.train = quadrants(256, 1);
  s.validation = quadrants(128, 2);
  s.test = quadrants(128, 3);
  return s;
}

TEST(CompareTraining, NativeRowsTrainLikeTheirCompiledTwins) {
  TempDir dir;
  CompareConfig c;
  c.rules = {"adam", "momentum"};
  c.task = "fmnist-mlp";
  c.epochs = 2;
  c.seeds = 2;
  c.lr_grid = {0.001, 0.01};
  c.batch_size = 32;
  c.dtype = "float64";
  c.jobs = 2;
  c.out = dir.path() + "/report";
  tasks::LocalEvaluatorOptions o;
  o.loader = tiny_data;
  o.threads = 1;
  ThreadPool pool(std::make_shared<tasks::LocalEvaluator>(o), c.jobs);
  CompareRuntime runtime;
  runtime.pool = &pool;
  const CompareResult result = run_compare(c, resolve_rows(c, "test"), runtime);
  ASSERT_EQ(result.summary.size(), 4u);
  EXPECT_EQ(result.executed, 4 * (2 + 2));
  for (size_t twin = 0; twin < 4; twin += 2) {
    const RowSummary& dsl = result.summary[twin];
    const RowSummary& native = result.summary[twin + 1];
    SCOPED_TRACE(dsl.row.label);
    EXPECT_EQ(native.row.kind, "native");
    EXPECT_EQ(dsl.seeds_ok, 2);
    EXPECT_EQ(native.seeds_ok, 2);
    // Same loop, same seeds, float64: the compiled rule and LibTorch's class agree to rounding.
    EXPECT_EQ(native.lr, dsl.lr);
    EXPECT_NEAR(native.final_val.mean, dsl.final_val.mean, 0.02);
    EXPECT_NEAR(native.final_train_loss.mean, dsl.final_train_loss.mean, 1e-6);
    EXPECT_GT(dsl.final_val.mean, 0.5);
  }
  EXPECT_TRUE(contains(read(c.out + "/report.md"), "tiny quadrants"));
}

// population 4: the runs of one seed and budget (a rule's tuning lrs, the rules' runs) train as populations in the
// workers; every run's result is the one it has with population 1 (float64), under a cosine schedule with a warm-up.
TEST(CompareTraining, PopulationsGiveTheResultsOfSoloRuns) {
  TempDir dir;
  CompareConfig c;
  tasks::set_recipe_key(c.recipe, "schedule", "cosine,warmup=0.1", "test");
  c.rules = {"adam", "momentum", "m + 0.5*g"};
  c.native_references = false;
  c.task = "fmnist-mlp";
  c.epochs = 2;
  c.seeds = 2;
  c.lr_grid = {0.001, 0.01, 0.1};
  c.batch_size = 32;
  c.dtype = "float64";
  c.jobs = 2;
  tasks::LocalEvaluatorOptions o;
  o.loader = tiny_data;
  o.threads = 1;
  std::vector<CompareResult> results;
  for (const int population : {1, 4}) {
    c.population = population;
    c.out = dir.path() + "/report" + std::to_string(population);
    const std::unique_ptr<dispatch::EvaluatorPool> pool = dispatch::with_population(
        std::make_unique<ThreadPool>(std::make_shared<tasks::LocalEvaluator>(o), c.jobs), c.population);
    CompareRuntime runtime;
    runtime.pool = pool.get();
    results.push_back(run_compare(c, resolve_rows(c, "test"), runtime));
  }
  ASSERT_EQ(results[0].summary.size(), 3u);
  ASSERT_EQ(results[1].summary.size(), 3u);
  EXPECT_EQ(results[1].executed, results[0].executed);
  for (size_t i = 0; i < 3; ++i) {
    const RowSummary &solo = results[0].summary[i], &together = results[1].summary[i];
    SCOPED_TRACE(solo.row.label);
    EXPECT_EQ(together.lr, solo.lr);
    EXPECT_EQ(together.seeds_ok, solo.seeds_ok);
    EXPECT_EQ(together.final_val.mean, solo.final_val.mean);
    EXPECT_EQ(together.final_test.mean, solo.final_test.mean);
    EXPECT_NEAR(together.final_train_loss.mean, solo.final_train_loss.mean,
                1e-9 * std::fabs(solo.final_train_loss.mean));
  }
  // Populations did form (issue 37: equal results alone would pass with none): a population's runs share its wall
  // time equally, so several journaled runs record the same seconds; solo runs do not.
  auto shared_seconds = [](const std::string& out) {
    std::ifstream journal(out + "/runs.jsonl");
    std::map<double, int> seen;
    int shared = 0;
    for (std::string line; std::getline(journal, line);) {
      CompareRun run;
      if (parse_journal_line(line, run) && run.record.seconds > 0) shared += seen[run.record.seconds]++ > 0;
    }
    return shared;
  };
  EXPECT_EQ(shared_seconds(dir.path() + "/report1"), 0);
  EXPECT_GT(shared_seconds(dir.path() + "/report4"), 0);
}

}  // namespace
}  // namespace nos::experiments
