// Population training (tasks/population.h): K children trained as one stacked model are their solo runs, a
// diverging child leaves the others as they were without it, and the hurdle and the mistakes a caller can make.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "common/error.h"
#include "optimizers/optimizers.h"
#include "tasks/evaluator.h"
#include "tasks/population.h"
#include "tasks/trainer.h"
#include "tests/tasks/capped.h"
#include "tests/tasks/quadrants.h"

namespace nos::tasks {
namespace {

// n images channels×side×side of 4 classes, noisier than the trainer tests' (tests/tasks/quadrants.h).
Dataset images(int64_t n, int64_t channels, int64_t side, uint64_t seed) {
  return fixtures::quadrants(n, channels, side, seed, 90, 120);
}

DataSplits data(int64_t channels, int64_t side) {
  DataSplits s;
  s.name = "quadrants";
  s.num_classes = 4;
  s.train = images(64, channels, side, 1);
  s.validation = images(48, channels, side, 2);
  s.test = images(48, channels, side, 3);
  return s;
}

TrainConfig config(const std::string& model) {
  TrainConfig c;
  c.model = model;
  c.epochs = 2;
  c.batch_size = 16;
  c.check_every = 2;
  c.dtype = torch::kFloat64;
  return c;
}

// Same status, steps and accuracies; losses to 1e-9 relative (float64: only the order of sums differs).
void expect_equal_runs(const TrainResult& a, const TrainResult& b, const std::string& what) {
  EXPECT_EQ(a.status, b.status) << what << ": " << a.message << " | " << b.message;
  EXPECT_EQ(a.message, b.message) << what;
  EXPECT_EQ(a.steps_done, b.steps_done) << what;
  ASSERT_EQ(a.epochs.size(), b.epochs.size()) << what;
  for (size_t e = 0; e < a.epochs.size(); ++e) {
    const double x = a.epochs[e].train_loss, y = b.epochs[e].train_loss;
    EXPECT_NEAR(x, y, 1e-9 * std::fabs(y)) << what << ", epoch " << e + 1;
    EXPECT_EQ(a.epochs[e].val_acc, b.epochs[e].val_acc) << what << ", epoch " << e + 1;
    EXPECT_TRUE(a.epochs[e].test_acc == b.epochs[e].test_acc ||
                (std::isnan(a.epochs[e].test_acc) && std::isnan(b.epochs[e].test_acc)))
        << what << ", epoch " << e + 1;
  }
  EXPECT_EQ(a.reward, b.reward) << what;
  EXPECT_TRUE(a.hurdle_acc == b.hurdle_acc || (std::isnan(a.hurdle_acc) && std::isnan(b.hurdle_acc))) << what;
}

struct Child {
  optimizers::ResolvedRule rule;
  double lr;
};

std::vector<TrainResult> population(const std::vector<Child>& children, const DataSplits& d, const TrainConfig& c) {
  std::vector<PopulationMember> members;
  for (const Child& child : children) members.push_back({&child.rule, child.lr});
  return train_population(members, d, c);
}

TrainResult solo(const Child& child, const DataSplits& d, TrainConfig c) {
  c.lr = child.lr;
  return train_classifier(child.rule, d, c);
}

std::vector<Child> three_rules() {
  return {{optimizers::resolve_rule("adam"), 1e-3},
          {optimizers::resolve_rule("momentum"), 0.02},
          {optimizers::resolve_rule("powersign"), 3e-3}};
}

// Every model with a stacked form, three rules at their own lrs: each child equals its solo run (float64).
class PopulationModel : public testing::TestWithParam<std::string> {};

TEST_P(PopulationModel, EachChildIsItsSoloRunInFloat64) {
  const std::string model = GetParam();
  const std::vector<Child> children = three_rules();
  // Small images keep float64 convolutions cheap: 3c3d's VALID convolutions need 16 pixels, the rest take 12.
  const bool cifar = model == "3c3d";
  const DataSplits d = data(cifar ? 3 : 1, cifar ? 16 : 12);
  const TrainConfig c = config(model);
  const std::vector<TrainResult> together = population(children, d, c);
  ASSERT_EQ(together.size(), children.size());
  for (size_t i = 0; i < children.size(); ++i) {
    expect_equal_runs(together[i], solo(children[i], d, c), model + " child " + std::to_string(i));
  }
}

INSTANTIATE_TEST_SUITE_P(Population, PopulationModel,
                         testing::Values("convnet", "2c2d", "3c3d", "mlp", "mlp20", "logreg"));

// The recipe goes to every child as to its solo run: a cosine schedule with warm-up, decoupled weight decay on the
// weights, gradient clipping by norm; and NCHW activations as well as channels-last.
TEST(Population, RecipeAndLayoutsAreTheSoloRuns) {
  const std::vector<Child> children = three_rules();
  const DataSplits d = data(1, 28);
  TrainConfig c = config("convnet");
  c.recipe.schedule = parse_schedule("cosine,warmup=2");
  c.recipe.weight_decay = 1e-2;
  c.recipe.weight_decay_mode = "decoupled";
  c.recipe.clip_norm = 0.5;
  for (const bool channels_last : {true, false}) {
    c.channels_last = channels_last;
    const std::vector<TrainResult> together = population(children, d, c);
    for (size_t i = 0; i < children.size(); ++i) {
      expect_equal_runs(together[i], solo(children[i], d, c), "child " + std::to_string(i));
    }
  }
}

// A child that diverges stops at the step its solo run stops, with the same record, and is masked: the others are
// as in the population without it.
TEST(Population, ADivergingChildIsMaskedAndTheOthersAreAsWithoutIt) {
  const DataSplits d = data(1, 28);
  const TrainConfig c = config("convnet");
  const Child diverging{optimizers::resolve_rule("sgd"), 1e5};
  const std::vector<Child> all = {three_rules()[0], diverging, three_rules()[1]};
  const std::vector<Child> without = {three_rules()[0], three_rules()[1]};
  const std::vector<TrainResult> a = population(all, d, c);
  const std::vector<TrainResult> b = population(without, d, c);
  const TrainResult alone = solo(diverging, d, c);
  ASSERT_EQ(alone.status, tasks::Status::kDiverged);
  expect_equal_runs(a[1], alone, "the diverging child");
  EXPECT_LT(a[1].steps_done, a[0].steps_done);
  expect_equal_runs(a[0], b[0], "child 0");
  expect_equal_runs(a[2], b[1], "child 2");
}

// The hurdle after the first epoch stops the children below it, as their solo runs.
TEST(Population, TheHurdleStopsTheChildrenBelowIt) {
  const DataSplits d = data(1, 28);
  TrainConfig c = config("mlp20");
  c.epochs = 3;
  const std::vector<Child> children = {{optimizers::resolve_rule("adam"), 1e-2},
                                       {optimizers::resolve_rule("sgd"), 1e-6}};
  const TrainResult good = solo(children[0], d, c), poor = solo(children[1], d, c);
  c.hurdle = (good.hurdle_acc + poor.hurdle_acc) / 2;
  ASSERT_GT(good.hurdle_acc, poor.hurdle_acc);
  const std::vector<TrainResult> together = population(children, d, c);
  EXPECT_EQ(together[0].status, tasks::Status::kOk);
  EXPECT_EQ(together[1].status, tasks::Status::kHurdle);
  expect_equal_runs(together[0], solo(children[0], d, c), "above the hurdle");
  expect_equal_runs(together[1], solo(children[1], d, c), "below the hurdle");
}

// The time limit is the population's: past it, every child still training stops at the next check, status timeout.
TEST(Population, TheTimeLimitStopsEveryChild) {
  const DataSplits d = data(1, 12);
  TrainConfig c = config("mlp20");
  c.time_limit_seconds = 1e-9;
  const std::vector<TrainResult> r = population(three_rules(), d, c);
  for (const TrainResult& child : r) {
    EXPECT_EQ(child.status, tasks::Status::kTimeout) << child.message;
    EXPECT_EQ(child.steps_done, c.check_every);
    EXPECT_NE(child.message.find("reached at step 2"), std::string::npos) << child.message;
    EXPECT_EQ(child.reward, 0.0);
  }
}

// A grid run's record equals the solo full-grid protocol's: its trials (lr, status, steps, loss, accuracy), the
// chosen lr, the hurdle accuracy and the continued run.
void expect_equal_grids(const TrainResult& a, const TrainResult& b, const std::string& what) {
  expect_equal_runs(a, b, what);
  EXPECT_TRUE(a.lr == b.lr || (std::isnan(a.lr) && std::isnan(b.lr))) << what << ": " << a.lr << " vs " << b.lr;
  EXPECT_EQ(a.total_steps, b.total_steps) << what;
  ASSERT_EQ(a.grid.size(), b.grid.size()) << what;
  for (size_t i = 0; i < a.grid.size(); ++i) {
    const GridTrial &x = a.grid[i], &y = b.grid[i];
    const std::string trial = what + ", trial " + std::to_string(i);
    EXPECT_EQ(x.lr, y.lr) << trial;
    EXPECT_EQ(x.status, y.status) << trial;
    EXPECT_EQ(x.steps, y.steps) << trial;
    EXPECT_EQ(x.val_acc, y.val_acc) << trial;
    EXPECT_TRUE(std::fabs(x.train_loss - y.train_loss) <= 1e-9 * std::fabs(y.train_loss) ||
                (std::isnan(x.train_loss) && std::isnan(y.train_loss)))
        << trial << ": " << x.train_loss << " vs " << y.train_loss;
  }
}

TrainResult solo_grid(const optimizers::ResolvedRule& rule, const std::vector<double>& grid, const DataSplits& d,
                      TrainConfig c) {
  c.lr = 0;
  c.lr_grid = grid;
  c.lr_search = "full";
  return train_classifier(rule, d, c);
}

// Runs at fixed lrs and runs on the full lr grid (their lrs as lanes) in one population: each run's record is its
// solo record — the grid's trials, the winner, its continued run; a lane that diverges in the trial; a grid whose
// every lr diverges; and the hurdle at the grid's trial point.
TEST(Population, GridRunsAreTheSoloGridProtocol) {
  const DataSplits d = data(1, 12);
  TrainConfig c = config("mlp20");
  c.epochs = 3;
  const optimizers::ResolvedRule adam = optimizers::resolve_rule("adam"), sgd = optimizers::resolve_rule("sgd"),
                                 momentum = optimizers::resolve_rule("momentum");
  const std::vector<double> grid = {1e-3, 1e-2, 0.1, 1e5};  // the last diverges
  const std::vector<double> too_big = {1e5, 1e6};
  const std::vector<PopulationRun> runs = {
      {&adam, 0, grid}, {&momentum, 0.02, {}}, {&sgd, 0, too_big}, {&sgd, 0, {0.1, 1.0}}};
  const std::vector<TrainResult> together = train_population_runs(runs, d, c);
  ASSERT_EQ(together.size(), runs.size());
  const TrainResult adam_solo = solo_grid(adam, grid, d, c);
  ASSERT_EQ(adam_solo.grid.back().status, tasks::Status::kDiverged);
  expect_equal_grids(together[0], adam_solo, "adam's grid");
  TrainConfig fixed = c;
  fixed.lr = 0.02;
  expect_equal_grids(together[1], train_classifier(momentum, d, fixed), "momentum at 0.02");
  const TrainResult diverged = solo_grid(sgd, too_big, d, c);
  ASSERT_EQ(diverged.message, "every lr of the grid diverged");
  expect_equal_grids(together[2], diverged, "sgd's diverging grid");
  expect_equal_grids(together[3], solo_grid(sgd, {0.1, 1.0}, d, c), "sgd's grid");

  // A hurdle between two grid runs' trial accuracies stops the lower one at its trial, as alone.
  const std::vector<double> tiny = {1e-6, 1e-5};
  const TrainResult slow = solo_grid(sgd, tiny, d, c);
  ASSERT_LT(slow.hurdle_acc, together[0].hurdle_acc);
  c.hurdle = (together[0].hurdle_acc + slow.hurdle_acc) / 2;
  const std::vector<TrainResult> hurdled = train_population_runs({runs[0], {&sgd, 0, tiny}}, d, c);
  expect_equal_grids(hurdled[0], solo_grid(adam, grid, d, c), "adam's grid above the hurdle");
  expect_equal_grids(hurdled[1], solo_grid(sgd, tiny, d, c), "sgd's grid below the hurdle");
  EXPECT_EQ(hurdled[0].status, tasks::Status::kOk);
  EXPECT_EQ(hurdled[1].status, tasks::Status::kHurdle);
  EXPECT_EQ(population_lanes(runs[0]), 4);
  EXPECT_EQ(population_lanes(runs[1]), 1);
  // Successive halving trains alone.
  c.lr_search = "halving";
  EXPECT_THROW(train_population_runs(runs, d, c), UserError);
}

// Rules that draw random numbers (drop, noise, anoise) draw in a population what they draw alone: each child's
// optimizer has its own generator, seeded as its solo run's.
TEST(Population, RandomRulesDrawTheirSoloNumbers) {
  const DataSplits d = data(1, 12);
  for (const std::string model : {"logreg", "mlp"}) {
    const TrainConfig c = config(model);
    const std::vector<Child> children = {{optimizers::resolve_rule("drop(g, 0.5)"), 0.05},
                                         {optimizers::resolve_rule("g + noise"), 0.01},
                                         {optimizers::resolve_rule("adam"), 1e-3},
                                         {optimizers::resolve_rule("anoise + drop(m, 0.3)"), 0.01}};
    const std::vector<TrainResult> together = population(children, d, c);
    for (size_t i = 0; i < children.size(); ++i) {
      expect_equal_runs(together[i], solo(children[i], d, c), model + " child " + std::to_string(i));
    }
  }
}

// `population: auto`: the measured CPU choice (docs/results/population-cpu), solo where nothing gains.
TEST(Population, AutoIsTheMeasuredChoice) {
  EXPECT_EQ(default_population("logreg", "cpu"), 16);
  EXPECT_EQ(default_population("mlp20", "cpu"), 16);
  EXPECT_EQ(default_population("convnet", "cpu"), 1);
  EXPECT_EQ(default_population("3c3d", "cpu"), 1);
  EXPECT_EQ(default_population("convnet", "cuda"), 16);
  EXPECT_EQ(default_population("wrn-16-4", "cuda"), 1);
}

// auto on a device: the measured K is the one with the most children-steps per second among those measured; out of
// memory, the doubling stops (here in a child process whose address space is capped 150 MB above its use, where
// float64 MLP children, ~45 MB each with Adam's state, fit two at a time but not eight).
TEST(Population, TheMeasuredChoiceIsTheFastestAndStopsAtTheMemory) {
  TrainConfig c;
  c.model = "logreg";
  c.batch_size = 32;
  const PopulationChoice choice = measure_population_choice("fmnist", c, 8, 3);
  ASSERT_EQ(choice.rates.size(), 4u);
  EXPECT_EQ(choice.stopped, "");
  std::pair<int64_t, double> best = choice.rates.front();
  for (size_t i = 0; i < choice.rates.size(); ++i) {
    EXPECT_EQ(choice.rates[i].first, int64_t{1} << i);
    EXPECT_GT(choice.rates[i].second, 0);
    if (choice.rates[i].second > best.second) best = choice.rates[i];
  }
  EXPECT_EQ(choice.k, best.first);

  fixtures::expect_in_capped_child(int64_t{150} << 20, [] {
    TrainConfig big;
    big.model = "mlp";
    big.dtype = torch::kFloat64;
    const PopulationChoice capped = measure_population_choice("fmnist", big, 64, 1);
    const bool ok = !capped.stopped.empty() && capped.rates.back().first >= 2 && capped.rates.back().first < 8 &&
                    capped.k <= capped.rates.back().first;
    if (!ok) {
      std::fprintf(stderr, "capped: K %lld, last %lld, stopped '%s'\n", static_cast<long long>(capped.k),
                   static_cast<long long>(capped.rates.back().first), capped.stopped.c_str());
    }
    return ok;
  });
}

// On a GPU (scripts/gpu-check.sh runs it there): each child equals its solo run on the GPU (float64).
TEST(PopulationCuda, EachChildIsItsSoloRunOnTheGpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: run on a GPU machine (scripts/gpu-check.sh)";
  const std::vector<Child> children = three_rules();
  for (const std::string model : {"convnet", "mlp20"}) {
    const DataSplits d = data(1, 28);
    TrainConfig c = config(model);
    c.device = torch::kCUDA;
    const std::vector<TrainResult> together = population(children, d, c);
    for (size_t i = 0; i < children.size(); ++i) {
      expect_equal_runs(together[i], solo(children[i], d, c), model + " child " + std::to_string(i));
    }
  }
}

TEST(Population, MistakesAreUserErrors) {
  const DataSplits d = data(3, 32);
  const optimizers::ResolvedRule adam = optimizers::resolve_rule("adam");
  EXPECT_THROW(train_population({}, d, config("convnet")), UserError);
  EXPECT_THROW(train_population({{&adam, 0.0}}, d, config("convnet")), UserError);
  EXPECT_THROW(train_population({{&adam, 1e-3}}, d, config("wrn-16-1")), UserError);
  EXPECT_TRUE(has_population_form("convnet"));
  EXPECT_FALSE(has_population_form("wrn-16-4"));
  EXPECT_FALSE(has_population_form("nonesuch"));
}

// What a user who asked for populations is told when a request trains alone: the task, the model or the lr search
// says why, and a request that can join one has no reason (and a population key).
TEST(Population, ARequestThatTrainsAloneSaysWhy) {
  EvalRequest r;
  r.task = "fmnist-convnet";
  r.lr = 0.01;
  EXPECT_EQ(population_alone_reason(r), "");
  EXPECT_NE(population_key(r), "");
  r.lr = 0;
  r.lr_search = "full";
  EXPECT_EQ(population_alone_reason(r), "");
  r.lr_search = "halving";
  EXPECT_NE(population_alone_reason(r).find("successive halving (lr_search: halving)"), std::string::npos)
      << population_alone_reason(r);
  EXPECT_EQ(population_key(r), "");
  r.lr = 0.01;
  EXPECT_EQ(population_alone_reason(r), "");  // a fixed lr has no lr search
  r.task = "rosenbrock";
  EXPECT_EQ(population_alone_reason(r), "rosenbrock is an analytic task (populations stack the children of a network)");
  r.task = "cifar10-wrn-16-4";
  EXPECT_NE(population_alone_reason(r).find("model 'wrn-16-4' has no stacked form (populations: "), std::string::npos)
      << population_alone_reason(r);
  EXPECT_EQ(population_key(r), "");
  r.task = "nonesuch";
  EXPECT_THROW(population_alone_reason(r), UserError);
}

}  // namespace
}  // namespace nos::tasks
