// Tests of task names and the local evaluator: records, invalid rules as results, data loaded once, analytic tasks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "common/error.h"
#include "tasks/evaluator.h"
#include "tasks/population.h"
#include "tests/tasks/capped.h"
#include "tests/tasks/quadrants.h"

namespace nos::tasks {
namespace {

// 1×8×8 images of 4 classes told apart by which quadrant is bright.
Dataset quadrants(int64_t n, uint64_t seed) { return fixtures::quadrants(n, 1, 8, seed); }

struct CountingLoader {
  int* calls;
  DataSplits operator()(const std::string& dataset, const DataOptions& options) const {
    ++*calls;
    DataSplits s;
    s.name = dataset;
    s.provenance = "fake " + dataset + " (validation " + std::to_string(options.validation_size) + ")";
    s.num_classes = 4;
    s.train = quadrants(128, 1);
    s.validation = quadrants(64, 2);
    s.test = quadrants(64, 3);
    return s;
  }
};

EvalRequest request(const std::string& rule, const std::string& task) {
  EvalRequest r;
  r.rule = rule;
  r.task = task;
  r.epochs = 2;
  r.batch_size = 32;
  r.lr = 0.05;
  r.validation_size = 64;
  return r;
}

TEST(TaskNames, ObjectivesAndDatasetModelPairs) {
  TaskSpec rosenbrock = parse_task_name("rosenbrock");
  EXPECT_TRUE(rosenbrock.analytic);
  TaskSpec fmnist = parse_task_name("fmnist-convnet");
  EXPECT_FALSE(fmnist.analytic);
  EXPECT_EQ(fmnist.dataset, "fmnist");
  EXPECT_EQ(fmnist.model, "convnet");
  TaskSpec wrn = parse_task_name("cifar10-wrn-16-4");
  EXPECT_EQ(wrn.dataset, "cifar10");
  EXPECT_EQ(wrn.model, "wrn-16-4");
  EXPECT_EQ(parse_task_name("cifar10-3c3d").model, "3c3d");
  for (const std::string& name : task_names()) EXPECT_NO_THROW(parse_task_name(name)) << name;
}

TEST(TaskNames, UnknownNamesSayWhatIsKnown) {
  for (const std::string bad : {"mnist-convnet", "fmnist-resnet", "fmnist-", "cifar10", "", "fmnist-wrn-15-4"}) {
    try {
      parse_task_name(bad);
      FAIL() << "'" << bad << "' accepted";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("'" + bad), std::string::npos) << e.what();
    }
  }
  try {
    parse_task_name("imagenet-convnet");
    FAIL() << "'imagenet-convnet' accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("fmnist"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("rosenbrock"), std::string::npos) << e.what();
  }
}

TEST(LocalEvaluator, ImageTaskRecordAndDataLoadedOnce) {
  int calls = 0;
  LocalEvaluatorOptions options;
  options.loader = CountingLoader{&calls};
  options.threads = 1;
  LocalEvaluator evaluator(options);
  EvalRecord a = evaluator.evaluate(request("adam", "fmnist-convnet"));
  EXPECT_EQ(a.status, tasks::Status::kOk) << a.message;
  EXPECT_EQ(a.rule, "adam");
  EXPECT_EQ(a.canonical, "adam");
  EXPECT_EQ(a.task, "fmnist-convnet");
  EXPECT_EQ(a.reward, a.val_acc);
  EXPECT_GT(a.val_acc, 0.5);
  EXPECT_EQ(a.lr, 0.05);
  EXPECT_EQ(a.epochs.size(), 2u);
  EXPECT_EQ(a.total_steps, 8);
  EXPECT_EQ(a.final_loss, a.epochs.back().train_loss);
  EXPECT_EQ(a.data, "fake fmnist (validation 64)");
  EvalRecord b = evaluator.evaluate(request("powersign", "fmnist-logreg"));
  EXPECT_EQ(b.status, tasks::Status::kOk) << b.message;
  EXPECT_EQ(calls, 1);
  // Other sizes are another split.
  EvalRequest other = request("adam", "fmnist-logreg");
  other.validation_size = 32;
  evaluator.evaluate(other);
  EXPECT_EQ(calls, 2);
  // Same request, same record.
  EvalRecord again = evaluator.evaluate(request("adam", "fmnist-convnet"));
  EXPECT_EQ(again.reward, a.reward);
  EXPECT_EQ(again.final_loss, a.final_loss);
}

TEST(LocalEvaluator, InvalidAndDivergingRulesAreRecordsNotExceptions) {
  int calls = 0;
  LocalEvaluatorOptions options;
  options.loader = CountingLoader{&calls};
  LocalEvaluator evaluator(options);
  EvalRecord invalid = evaluator.evaluate(request("exp(g", "fmnist-logreg"));
  EXPECT_EQ(invalid.status, tasks::Status::kInvalid);
  EXPECT_EQ(invalid.reward, 0.0);
  EXPECT_NE(invalid.message.find("error[E"), std::string::npos) << invalid.message;
  EXPECT_EQ(calls, 0);  // no data needed to reject a rule
  EvalRequest blowup = request("sgd", "fmnist-mlp");
  blowup.lr = 1e8;
  EvalRecord diverged = evaluator.evaluate(blowup);
  EXPECT_EQ(diverged.status, tasks::Status::kDiverged);
  EXPECT_EQ(diverged.reward, 0.0);
}

TEST(LocalEvaluator, BadRequestsAreUserErrors) {
  int calls = 0;
  LocalEvaluatorOptions options;
  options.loader = CountingLoader{&calls};
  LocalEvaluator evaluator(options);
  EXPECT_THROW(evaluator.evaluate(request("adam", "fmnist-nonet")), UserError);
  EvalRequest bad_device = request("adam", "fmnist-logreg");
  bad_device.device = "tpu";
  EXPECT_THROW(evaluator.evaluate(bad_device), UserError);
  EvalRequest bad_batch = request("adam", "fmnist-logreg");
  bad_batch.batch_size = 0;
  EXPECT_THROW(evaluator.evaluate(bad_batch), UserError);
  EvalRequest bfloat16_objective = request("adam", "rosenbrock");
  bfloat16_objective.dtype = "bfloat16";
  EXPECT_THROW(evaluator.evaluate(bfloat16_objective), UserError);
}

// dtype bfloat16: float32 weights with bfloat16 autocast, and children that train alone (not in a population).
TEST(LocalEvaluator, Bfloat16IsFloat32WithAutocastAndTrainsAlone) {
  EvalRequest r = request("adam", "fmnist-convnet");
  r.lr = 0.01;
  r.lr_search = "full";
  EXPECT_EQ(population_alone_reason(r), "");
  r.dtype = "bfloat16";
  const TrainConfig config = train_config(r, parse_task_name(r.task));
  EXPECT_EQ(config.dtype, torch::kFloat32);
  EXPECT_TRUE(config.bfloat16_autocast);
  EXPECT_NE(population_alone_reason(r).find("bfloat16"), std::string::npos);
  EXPECT_EQ(population_key(r), "");
  r.dtype = "float32";
  EXPECT_FALSE(train_config(r, parse_task_name(r.task)).bfloat16_autocast);
}

TEST(LocalEvaluator, AnalyticTasksRewardTheGapToTheOptimum) {
  LocalEvaluator evaluator;
  EvalRequest r = request("adam", "sphere");
  r.steps = 200;
  r.lr = 0.1;
  EvalRecord record = evaluator.evaluate(r);
  EXPECT_EQ(record.status, tasks::Status::kOk);
  EXPECT_GT(record.reward, 0.99);
  EXPECT_LE(record.reward, 1.0);
  EXPECT_TRUE(std::isnan(record.val_acc));
  EXPECT_EQ(record.total_steps, 200);
  // The grid keeps the lr with the best reward.
  r.lr = 0;
  r.lr_grid = {1e-5, 0.1};
  EvalRecord grid = evaluator.evaluate(r);
  EXPECT_EQ(grid.lr, 0.1);
  EXPECT_EQ(grid.grid.size(), 2u);
  EvalRequest blowup = request("g", "rosenbrock");
  blowup.lr = 1e6;
  blowup.steps = 100;
  EvalRecord diverged = evaluator.evaluate(blowup);
  EXPECT_EQ(diverged.status, tasks::Status::kDiverged);
  EXPECT_EQ(diverged.reward, 0.0);
}

// Four-class 28×28 quadrant images (64 training, 32 validation, 32 test), whatever data set is asked for.
DataSplits quadrant_data(const std::string& dataset, const DataOptions&) {
  DataSplits s;
  s.name = dataset;
  s.num_classes = 4;
  s.train = fixtures::quadrants(64, 1, 28, 1);
  s.validation = fixtures::quadrants(32, 1, 28, 2);
  s.test = fixtures::quadrants(32, 1, 28, 3);
  return s;
}

// A population with one rule LibTorch cannot run (README, "Populations"): the population fails, is split in halves
// and each half retried, down to solo runs, so only that rule's child is invalid ("the rule failed to run: …") and
// every other child gets its solo record. The failure is injected (before_training throws LibTorch's error whenever
// the rule is among those about to train): on a CPU no rule fails so.
TEST(LocalEvaluator, APopulationWithARuleThatCannotRunIsSplitSoOnlyThatChildFails) {
  LocalEvaluatorOptions o;
  o.loader = quadrant_data;
  LocalEvaluator alone(o);
  std::vector<size_t> sizes;  // the number of rules of each training, in order
  o.before_training = [&sizes](const std::vector<const optimizers::ResolvedRule*>& rules) {
    sizes.push_back(rules.size());
    for (const optimizers::ResolvedRule* r : rules) TORCH_CHECK(r->text != "sign(m)", "no kernel for sign(m)");
  };
  LocalEvaluator failing(o);
  std::vector<EvalRequest> requests;
  for (const std::string rule : {"adam", "momentum", "sign(m)", "sgd"}) {
    EvalRequest r = request(rule, "fmnist-mlp");
    r.lr = 0.01;
    r.epochs = 1;
    requests.push_back(r);
  }
  const std::vector<EvalRecord> records = failing.evaluate_population(requests);
  ASSERT_EQ(records.size(), 4u);
  // [adam momentum sign(m) sgd] fails; [adam momentum] trains; [sign(m) sgd] fails; sign(m) alone fails; sgd alone.
  EXPECT_EQ(sizes, (std::vector<size_t>{4, 2, 2, 1, 1}));
  EXPECT_EQ(records[2].status, tasks::Status::kInvalid);
  EXPECT_NE(records[2].message.find("the rule failed to run: no kernel for sign(m)"), std::string::npos)
      << records[2].message;
  for (size_t i : {0, 1, 3}) {
    const EvalRecord solo = alone.evaluate(requests[i]);
    EXPECT_EQ(records[i].status, tasks::Status::kOk) << requests[i].rule << ": " << records[i].message;
    EXPECT_EQ(records[i].val_acc, solo.val_acc) << requests[i].rule;
    EXPECT_NEAR(records[i].final_loss, solo.final_loss, 1e-6 * std::fabs(solo.final_loss)) << requests[i].rule;
  }
}

}  // namespace
}  // namespace nos::tasks

namespace nos::tasks {
namespace {

// The same record up to timings (losses to 1e-9 relative: float64 sums in another order).
void expect_same_record(const EvalRecord& a, const EvalRecord& b) {
  const std::string what = b.rule;
  EXPECT_EQ(a.rule, b.rule);
  EXPECT_EQ(a.canonical, b.canonical) << what;
  EXPECT_EQ(a.status, b.status) << what;
  EXPECT_EQ(a.message, b.message) << what;
  EXPECT_EQ(a.data, b.data) << what;
  auto same = [](double x, double y) { return x == y || (std::isnan(x) && std::isnan(y)); };
  EXPECT_TRUE(same(a.reward, b.reward)) << what << ": " << a.reward << " vs " << b.reward;
  EXPECT_TRUE(same(a.val_acc, b.val_acc)) << what;
  EXPECT_TRUE(same(a.test_acc, b.test_acc)) << what;
  EXPECT_TRUE(same(a.lr, b.lr)) << what;
  EXPECT_TRUE(same(a.hurdle_acc, b.hurdle_acc)) << what;
  EXPECT_EQ(a.steps_done, b.steps_done) << what;
  EXPECT_EQ(a.total_steps, b.total_steps) << what;
  ASSERT_EQ(a.grid.size(), b.grid.size()) << what;
  for (size_t i = 0; i < a.grid.size(); ++i) {
    EXPECT_EQ(a.grid[i].status, b.grid[i].status) << what;
    EXPECT_EQ(a.grid[i].val_acc, b.grid[i].val_acc) << what;
  }
  ASSERT_EQ(a.epochs.size(), b.epochs.size()) << what;
  for (size_t e = 0; e < a.epochs.size(); ++e) {
    EXPECT_NEAR(a.epochs[e].train_loss, b.epochs[e].train_loss, 1e-9 * std::fabs(b.epochs[e].train_loss)) << what;
    EXPECT_EQ(a.epochs[e].val_acc, b.epochs[e].val_acc) << what;
  }
}

// Requests of one task, budget and seed train as one population; each record is the request's own evaluation:
// fixed lrs, a full lr grid, a rule that does not parse. Requests that differ elsewhere are evaluated one by one.
TEST(LocalEvaluator, APopulationGivesEachRequestItsSoloRecord) {
  int calls = 0;
  LocalEvaluatorOptions o;
  o.loader = CountingLoader{&calls};
  LocalEvaluator evaluator(o);
  std::vector<EvalRequest> requests = {request("adam", "fmnist-mlp"), request("sgd", "fmnist-mlp"),
                                       request("not a rule (", "fmnist-mlp"), request("momentum", "fmnist-mlp")};
  requests[0].lr = 1e-2;
  requests[1].lr = 0;
  requests[1].lr_grid = {0.01, 0.1, 1e5};
  requests[1].lr_search = "full";
  for (EvalRequest& r : requests) r.dtype = "float64";
  const std::string key = population_key(requests[0]);
  EXPECT_FALSE(key.empty());
  for (const EvalRequest& r : requests) EXPECT_EQ(population_key(r), key) << r.rule;
  const std::vector<EvalRecord> together = evaluator.evaluate_population(requests);
  ASSERT_EQ(together.size(), requests.size());
  EXPECT_EQ(together[2].status, tasks::Status::kInvalid);
  EXPECT_EQ(together[1].grid.size(), 3u);
  for (size_t i = 0; i < requests.size(); ++i) expect_same_record(together[i], evaluator.evaluate(requests[i]));

  // Another seed is another population; so is an analytic task or a halving grid: none.
  EvalRequest other = requests[0];
  other.seed = 1;
  EXPECT_NE(population_key(other), key);
  EXPECT_EQ(population_key(request("adam", "rosenbrock")), "");
  EvalRequest halving = requests[1];
  halving.lr_search = "halving";
  EXPECT_EQ(population_key(halving), "");
  EXPECT_EQ(population_key(request("adam", "fmnist-wrn-16-4")), "");
  const std::vector<EvalRecord> mixed = evaluator.evaluate_population({requests[0], other});
  expect_same_record(mixed[1], evaluator.evaluate(other));
  EXPECT_EQ(calls, 1);

  // Each request's time limit is its child's: three children's population has three times it.
  std::vector<EvalRequest> limited = {requests[0], requests[1], requests[3]};
  for (EvalRequest& r : limited) r.time_limit = 1e-9;
  for (const EvalRecord& r : evaluator.evaluate_population(limited)) {
    EXPECT_EQ(r.status, tasks::Status::kTimeout) << r.rule;
    EXPECT_NE(r.message.find("the population's time limit of 3e-09 s reached"), std::string::npos) << r.message;
  }
}

// A population too big for the memory there is split in halves, down to what fits, and each request still gets its
// solo record. In a child process whose address space is capped 200 MB above what it uses: eight float64 MLP
// children with Adam's state (~45 MB each) cannot train at once there, one can.
TEST(LocalEvaluator, APopulationThatRunsOutOfMemoryIsSplitDownToWhatFits) {
  LocalEvaluatorOptions o;
  o.loader = quadrant_data;
  LocalEvaluator evaluator(o);
  std::vector<EvalRequest> requests;
  std::vector<EvalRecord> solo;
  for (int i = 0; i < 8; ++i) {
    EvalRequest r = request(i % 2 ? "adam" : "momentum", "fmnist-mlp");
    r.lr = 1e-3 * (i + 1);
    r.epochs = 1;
    r.dtype = "float64";
    requests.push_back(r);
    solo.push_back(evaluator.evaluate(r));
    ASSERT_EQ(solo.back().status, tasks::Status::kOk) << solo.back().message;
  }
  fixtures::expect_in_capped_child(int64_t{200} << 20, [&] {
    int failures = 0;
    // The cap binds: all eight at once cannot train.
    std::vector<optimizers::ResolvedRule> rules;
    for (const EvalRequest& r : requests) rules.push_back(optimizers::resolve_rule(r.rule));
    std::vector<PopulationRun> runs;
    for (size_t i = 0; i < requests.size(); ++i) runs.push_back({&rules[i], requests[i].lr, {}});
    TrainConfig config;
    config.model = "mlp";
    config.epochs = 1;
    config.batch_size = 32;
    config.dtype = torch::kFloat64;
    try {
      train_population_runs(runs, *evaluator.data("fmnist", requests[0]), config);
      std::fprintf(stderr, "eight children trained at once under the cap\n");
      ++failures;
    } catch (const c10::Error&) {
    }
    const std::vector<EvalRecord> split = evaluator.evaluate_population(requests);
    for (size_t i = 0; i < requests.size(); ++i) {
      if (split[i].status != solo[i].status || split[i].val_acc != solo[i].val_acc ||
          std::fabs(split[i].final_loss - solo[i].final_loss) > 1e-9 * std::fabs(solo[i].final_loss)) {
        std::fprintf(stderr, "request %zu: %s %.17g vs solo %s %.17g\n", i, status_text(split[i].status), split[i].val_acc,
                     status_text(solo[i].status), solo[i].val_acc);
        ++failures;
      }
    }
    return failures == 0;
  });
}

}  // namespace
}  // namespace nos::tasks
