// Tests of the benchmark module: random rules from the token space, the Python twin's model list, the runner's
// reading of the script's output, and tiny runs of both benchmarks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench.h"
#include "bench/children_bench.h"
#include "common/error.h"
#include "dsl/ast.h"
#include "dsl/parse.h"
#include "tasks/datasets.h"
#include "tasks/models.h"
#include "tests/temp_dir.h"

namespace nos::bench {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The lines `command` prints on stdout.
std::vector<std::string> output_lines(const std::string& command) {
  std::vector<std::string> lines;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return lines;
  std::string output;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  ::pclose(pipe);
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string error_of(const std::string& spec) {
  try {
    bench_rule_text(spec, "--rule " + spec);
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

// --- random rules ---------------------------------------------------------------------------------------------

TEST(RandomRule, SameSeedSameRuleOtherSeedOtherRule) {
  EXPECT_EQ(random_rule(5, 1), random_rule(5, 1));
  EXPECT_NE(random_rule(5, 1), random_rule(5, 2));
}

TEST(RandomRule, DeterministicAndAsDeepAsAsked) {
  for (int depth = 1; depth <= kMaxRandomDepth; ++depth) {
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      const std::string text = random_rule(depth, seed);
      const dsl::NodePtr rule = dsl::parse(text);
      EXPECT_FALSE(dsl::is_random(*rule)) << text;
      // Every unit is live: `depth` binary functions nest, each over a unary one, above the operands.
      EXPECT_GE(dsl::depth(*rule), depth + 1) << "depth " << depth << ": " << text;
    }
  }
}

TEST(RandomRule, SpecsResolveOrNameTheProblem) {
  EXPECT_EQ(bench_rule_text("adam", "--rule adam"), "adam");
  EXPECT_EQ(bench_rule_text("random:4:3", "--rule random:4:3"), random_rule(4, 3));
  EXPECT_EQ(bench_rule_text("random:4", "--rule random:4"), random_rule(4, 1));
  EXPECT_EQ(error_of("random:13:1"), "--rule random:13:1: depth must be at most 12");
  EXPECT_EQ(error_of("random:x:1"),
            "--rule random:x:1: expected a depth (random:DEPTH:SEED) (a whole number >= 1), got 'x'");
  EXPECT_EQ(error_of("random:3:0"), "--rule random:3:0: expected a seed ≥ 1 (a whole number >= 1), got '0'");
}

TEST(RandomRule, DefaultStepRulesResolve) {
  const std::vector<BenchRule> rules = resolve_step_rules(default_step_rules());
  ASSERT_EQ(rules.size(), 7u);
  EXPECT_EQ(rules[6].spec, "random:5:1");
  EXPECT_EQ(rules[6].text, random_rule(5, 1));
  for (const BenchRule& r : rules) EXPECT_GE(r.shape.passes, 1) << r.spec;
}

// The LibTorch class each rule is timed against (twin/fused).
TEST(StepBench, TwinsAreTheNativeRowsAndAdamwForLion) {
  EXPECT_EQ(step_twin("adamw"), "torch-adamw");
  EXPECT_EQ(step_twin("amsgrad"), "torch-amsgrad");
  EXPECT_EQ(step_twin("adam"), "torch-adam");
  EXPECT_EQ(step_twin("lion"), "torch-adamw");
  EXPECT_EQ(step_twin("powersign"), "");
  EXPECT_EQ(step_twin(""), "");
}

// --- the Python twin ------------------------------------------------------------------------------------------

TEST(PythonTwin, ListsExactlyTheModelRegistry) {
  const std::string script = std::string(NOS_SOURCE_DIR) + "/scripts/bench_train.py";
  const std::vector<std::string> listed = output_lines(std::string(NOS_PYTHON) + " " + script + " --list-models");
  std::vector<std::string> registry;
  for (const tasks::ModelInfo& m : tasks::models()) registry.emplace_back(m.name);
  EXPECT_EQ(listed, registry);
}

TEST(PythonTwin, CompiledInScriptIsTheFile) {
  EXPECT_EQ(std::string(bench_train_script()), read_file(std::string(NOS_SOURCE_DIR) + "/scripts/bench_train.py"));
}

TEST(PythonRunner, ReadsFiguresAndReasons) {
  PythonFigure f = parse_python_output(
      "torch_version=2.1\nthreads=1\nseconds=2.0\ncpu_seconds=1.5\nsamples_per_second=64.0\n", "py");
  EXPECT_TRUE(f.ok);
  EXPECT_EQ(f.version, "2.1");
  EXPECT_EQ(f.seconds, 2.0);
  EXPECT_EQ(f.cpu_seconds, 1.5);
  EXPECT_EQ(f.samples_per_second, 64.0);
  f = parse_python_output("import_error=No module named 'torch'\n", "py");
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.why, "'import torch' failed in py: No module named 'torch'");
  f = parse_python_output("unsupported_model=resnet\n", "py");
  EXPECT_EQ(f.why, "the Python side has no model 'resnet'");
  f = parse_python_output("Traceback: boom\n", "py");
  EXPECT_EQ(f.why, "py gave no figure: Traceback: boom\n");
}

TEST(PythonRunner, MissingInterpreterIsAReasonNotAnError) {
  PythonRequest request;
  request.python = "/nonexistent/python3";
  request.model = "logreg";
  const PythonFigure f = run_python_bench(request);
  EXPECT_FALSE(f.ok);
  EXPECT_NE(f.why.find("/nonexistent/python3"), std::string::npos) << f.why;
}

// --- the benchmarks, tiny -------------------------------------------------------------------------------------

TEST(TrainBench, SyntheticDataHasTheRegistryShape) {
  for (const tasks::DatasetInfo& d : tasks::datasets()) {
    const tasks::DataSplits data = tasks::synthetic_data(std::string(d.name), 16);
    EXPECT_EQ(data.train.images.sizes().vec(), (std::vector<int64_t>{16, d.channels, d.side, d.side})) << d.name;
    EXPECT_EQ(data.num_classes, d.classes);
    EXPECT_LT(data.train.labels.max().item<int64_t>(), d.classes);
  }
}

TEST(TrainBench, NosAloneGivesAFigure) {
  TrainBenchOptions o;
  o.task = tasks::parse_task_name("fmnist-logreg");
  o.rule = optimizers::resolve_rule("adam");
  o.steps = 2;
  o.warmup = 0;
  o.batch = 8;
  o.python = false;
  const TrainBenchResult r = run_train_bench(o);
  EXPECT_GT(r.nos.samples_per_second, 0);
  EXPECT_FALSE(r.python.ok);
  EXPECT_EQ(r.provenance, "synthetic fmnist-shaped data");
}

TEST(StepBench, ReportsEverySizeAndRule) {
  StepBenchOptions o;
  o.sizes = {1000, 2000};
  o.reps = 1;
  o.steps = 1;
  const std::vector<BenchRule> rules = resolve_step_rules({"adam", "random:2:1"});
  std::vector<int64_t> sizes;
  std::vector<std::string> seen;
  StepBenchObserver observer;
  observer.on_size = [&](const SizeFigures& s) {
    sizes.push_back(s.params);
    EXPECT_GT(s.adam_ns, 0);
    EXPECT_GT(s.sgd_ns, 0);
  };
  observer.on_rule = [&](const BenchRule& r, const SizeFigures& s, const RuleFigures& f) {
    seen.push_back(r.spec + "@" + std::to_string(s.params));
    EXPECT_GT(f.fused, 0);
    EXPECT_GT(f.reference, 0);
    EXPECT_GT(f.floor, 0);
  };
  run_step_bench(o, rules, observer);
  EXPECT_EQ(sizes, (std::vector<int64_t>{1000, 2000}));
  EXPECT_EQ(seen, (std::vector<std::string>{"adam@1000", "random:2:1@1000", "adam@2000", "random:2:1@2000"}));
}

TEST(StepBench, BytesPerParameterCountTheAverages) {
  StepBenchOptions o;
  o.sizes = {100};
  o.reps = 1;
  o.steps = 1;
  std::vector<int64_t> bytes;
  StepBenchObserver observer;
  observer.on_rule = [&](const BenchRule&, const SizeFigures&, const RuleFigures& f) {
    bytes.push_back(f.bytes_per_param);
  };
  // sgd reads w and g and writes w; adam also reads and writes m and v.
  run_step_bench(o, resolve_step_rules({"g", "adam"}), observer);
  EXPECT_EQ(bytes, (std::vector<int64_t>{3 * 4, 7 * 4}));
}

}  // namespace
}  // namespace nos::bench

namespace nos::bench {
namespace {

// Each stage of `nos bench search` adds its mechanism to the stage before, and only that: the stages differ from
// their predecessor in exactly one setting, and the first is nos before the mechanisms.
TEST(SearchBench, StagesAddOneMechanismEach) {
  SearchBenchOptions o;
  o.dir = "/tmp/b";
  const search::SearchConfig off = search_bench_config("off", o);
  EXPECT_EQ(off.fec_cache, "none");
  EXPECT_FALSE(off.prefilter.probe);
  EXPECT_TRUE(off.prefilter.enabled);
  EXPECT_EQ(off.task.lr_search, "full");
  EXPECT_FALSE(off.hurdle.enabled);
  EXPECT_EQ(off.task.task, "fmnist-convnet");
  EXPECT_EQ(off.task.train_size, 4000);
  EXPECT_EQ(off.task.validation_size, 2000);
  EXPECT_EQ(off.task.lr_grid, (std::vector<double>{0.001, 0.01, 0.1, 1}));
  search::SearchConfig expected = off;
  const std::vector<std::string>& stages = search_bench_stages();
  ASSERT_EQ(stages, (std::vector<std::string>{"off", "fec", "probe", "notest", "halving", "hurdle"}));
  EXPECT_TRUE(off.task.test_accuracy);
  for (size_t i = 1; i < stages.size(); ++i) {
    if (stages[i] == "fec") expected.fec_cache = "run";
    if (stages[i] == "probe") expected.prefilter.probe = true;
    if (stages[i] == "notest") expected.task.test_accuracy = false;
    if (stages[i] == "halving") expected.task.lr_search = "halving";
    if (stages[i] == "hurdle") expected.hurdle.enabled = true;
    EXPECT_EQ(search::to_yaml(search_bench_config(stages[i], o)), search::to_yaml(expected)) << stages[i];
  }
  // The last stage is the search's defaults for everything the mechanisms touch.
  const search::SearchConfig defaults;
  const search::SearchConfig last = search_bench_config("hurdle", o);
  EXPECT_EQ(last.fec_cache, defaults.fec_cache);
  EXPECT_EQ(last.prefilter.probe, defaults.prefilter.probe);
  EXPECT_EQ(last.task.lr_search, defaults.task.lr_search);
  EXPECT_EQ(last.hurdle.enabled, defaults.hurdle.enabled);
  EXPECT_EQ(last.task.test_accuracy, defaults.task.test_accuracy);
  EXPECT_EQ(last.hurdle.percentile, defaults.hurdle.percentile);
  EXPECT_THROW(search_bench_config("fast", o), UserError);
  // Another percentile runs in a folder of its own; the default in "hurdle".
  EXPECT_EQ(stage_dir("hurdle", o), "/tmp/b/hurdle");
  o.hurdle_percentile = 25;
  EXPECT_EQ(stage_dir("hurdle", o), "/tmp/b/hurdle-p25");
  EXPECT_EQ(stage_dir("fec", o), "/tmp/b/fec");
  EXPECT_EQ(search_bench_config("hurdle", o).hurdle.percentile, 25);
}

TEST(SearchBench, BadOptionsFailBeforeAnyWork) {
  SearchBenchOptions o;
  EXPECT_THROW(run_search_bench(o), UserError);  // no folder
  o.dir = "/nonexistent/never-created";
  o.stages = {"off", "turbo"};
  EXPECT_THROW(run_search_bench(o), UserError);
  o.stages = {};
  EXPECT_THROW(run_search_bench(o), UserError);
  EXPECT_EQ(mean_of({1, 2, 3}), 2);
  EXPECT_DOUBLE_EQ(stddev_of({1, 2, 3}), 1);
  EXPECT_EQ(stddev_of({5}), 0);
}

// Figures that are noise are not presented as results (issue 33): one seed has no spread and gives no verdict.
TEST(SearchBench, OneSeedGivesNoSpreadAndNoVerdict) {
  EXPECT_EQ(mean_sd_text({0.798}), "0.7980 (n 1, no spread)");
  EXPECT_EQ(mean_sd_text({1, 2, 3}), "2.0000 ± 1.0000 (n 3)");
  EXPECT_EQ(mean_sd_text({}), "–");
  const std::string one = quality_verdict("off", {0.79, 0.8, 0.81}, "hurdle", {0.80, 0.8, 0.8}, 1);
  EXPECT_NE(one.find("no verdict with one re-evaluation seed"), std::string::npos) << one;
  EXPECT_EQ(one.find("kept"), std::string::npos) << one;
  EXPECT_EQ(quality_verdict("off", {0.79, 0.81}, "hurdle", {0.80, 0.80}, 2),
            "quality kept: hurdle's pooled mean is no lower than off's by more than one sd");
  EXPECT_EQ(quality_verdict("off", {0.79, 0.81}, "hurdle", {0.70, 0.72}, 2),
            "quality NOT kept: hurdle's pooled mean is lower than off's by more than one sd");
  EXPECT_NE(quality_verdict("off", {0.79, 0.81}, "hurdle", {}, 3).find("hurdle has no rule that earned a reward"),
            std::string::npos);
}

// A stage whose every proposal was rejected (or invalid, or diverged) has no best rule, not a rejected one.
TEST(SearchBench, ARejectedRuleIsNeverTheBestRule) {
  nos::testing::TempDir dir;
  {
    search::Store store(search::store_path(dir.path()), search::Store::Mode::kCreate);
    const std::vector<std::pair<std::string, std::string>> rows = {
        {"rejected", "g"}, {"invalid", ""}, {"diverged", "exp(g)"}, {"rejected", "m"}};
    for (size_t i = 0; i < rows.size(); ++i) {
      search::Evaluation e;
      e.slot = static_cast<int64_t>(i);
      e.tokens = "t" + std::to_string(i);
      e.status = tasks::parse_status(rows[i].first);
      e.canonical = rows[i].second;
      e.hash = rows[i].second.empty() ? "" : "h" + std::to_string(i);
      e.reward = 0;
      store.insert(e);
    }
  }
  StageFigures f = stage_figures("off", dir.path());
  EXPECT_EQ(f.proposals, 4);
  EXPECT_EQ(f.best_rule, "");
  EXPECT_EQ(f.best_reward, 0);
  {
    search::Store store(search::store_path(dir.path()), search::Store::Mode::kOpen);
    search::Evaluation e;
    e.batch = 1;
    e.tokens = "ok";
    e.status = tasks::Status::kOk;
    e.canonical = "sign(g)";
    e.hash = "hok";
    e.reward = 0.5;
    store.insert(e);
  }
  f = stage_figures("off", dir.path());
  EXPECT_EQ(f.best_rule, "sign(g)");
  EXPECT_EQ(f.best_reward, 0.5);
}

// Each figure of nos bench children is timed over at least min_seconds, however few steps were asked for: 2 steps
// of a tiny model gave an 8.41x "speed-up" (issue 33).
TEST(ChildrenBench, EachFigureIsTimedOverTheMinimumTime) {
  ChildrenBenchOptions o;
  o.task = tasks::parse_task_name("fmnist-logreg");
  o.rule = optimizers::resolve_rule("adam");
  o.ks = {1, 2};
  o.steps = 2;
  o.warmup = 0;
  o.batch = 8;
  o.min_seconds = 0.2;
  const ChildrenBenchResult r = run_children_bench(o);
  EXPECT_GE(r.solo_seconds, 0.2);
  EXPECT_GT(r.solo_steps, 2);
  ASSERT_EQ(r.rows.size(), 2u);
  for (const ChildrenBenchRow& row : r.rows) {
    EXPECT_GE(row.seconds, 0.2) << row.k;
    EXPECT_GT(row.steps, 2) << row.k;
    EXPECT_NEAR(row.children_steps_per_second, row.k * row.steps / row.seconds, 1e-6 * row.children_steps_per_second);
  }
  o.min_seconds = 0;
  EXPECT_THROW(run_children_bench(o), UserError);
}

}  // namespace
}  // namespace nos::bench
