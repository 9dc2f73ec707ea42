// Tests of the child trainer on tiny in-memory data: lr grid protocol, divergence, determinism, T, budgets, timeout.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "optimizers/optimizers.h"
#include "tasks/child_profile.h"
#include "tasks/device_data.h"
#include "tasks/models.h"
#include "tasks/trainer.h"
#include "tests/tasks/quadrants.h"

namespace nos::tasks {
namespace {

// n images 1×side×side of 4 classes (tests/tasks/quadrants.h).
Dataset quadrants(int64_t n, int64_t side, uint64_t seed) { return fixtures::quadrants(n, 1, side, seed); }

DataSplits tiny_data(int64_t train = 256, int64_t side = 6) {
  DataSplits s;
  s.name = "quadrants";
  s.provenance = "in-memory test data";
  s.num_classes = 4;
  s.train = quadrants(train, side, 1);
  s.validation = quadrants(128, side, 2);
  s.test = quadrants(128, side, 3);
  return s;
}

TrainConfig config(const std::string& model, int64_t epochs, double lr) {
  TrainConfig c;
  c.model = model;
  c.epochs = epochs;
  c.batch_size = 32;
  c.lr = lr;
  c.check_every = 4;
  c.eval_batch_size = 64;
  return c;
}

optimizers::ResolvedRule rule(const std::string& name) { return optimizers::resolve_rule(name); }

// Bit for bit (NaN, "not measured", equals NaN).
bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

void expect_same_metrics(const TrainResult& a, const TrainResult& b) {
  ASSERT_EQ(a.epochs.size(), b.epochs.size());
  for (size_t i = 0; i < a.epochs.size(); ++i) {
    EXPECT_TRUE(same(a.epochs[i].train_loss, b.epochs[i].train_loss)) << "epoch " << i + 1;
    EXPECT_TRUE(same(a.epochs[i].val_acc, b.epochs[i].val_acc)) << "epoch " << i + 1;
    EXPECT_TRUE(same(a.epochs[i].test_acc, b.epochs[i].test_acc)) << "epoch " << i + 1;
  }
  EXPECT_EQ(a.reward, b.reward);
  EXPECT_TRUE(same(a.test_acc, b.test_acc));
}

// 3c3d's L2 (DeepOBS: 0.002 on the weights) goes to exactly its six weight tensors; biases stay at the rule's own
// weight decay; a model without a penalty is one group; every parameter is in exactly one group.
TEST(Trainer, ThreeC3DsL2GoesToItsWeightsOnly) {
  Classifier model = make_model("3c3d", 3, 32, 32, 10);
  const Recipe own;  // the rule's and model's own decay
  const std::vector<optimizers::ParamGroup> groups =
      parameter_groups(*model, optimizers::RuleOptions(0.1).weight_decay(1e-4), own);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].weight_decay, 0.002);
  EXPECT_EQ(groups[1].weight_decay, 1e-4);
  ASSERT_EQ(groups[0].params.size(), 6u);
  for (const torch::Tensor& w : groups[0].params) EXPECT_GE(w.dim(), 2);
  ASSERT_EQ(groups[1].params.size(), 6u);
  for (const torch::Tensor& b : groups[1].params) EXPECT_EQ(b.dim(), 1);
  for (const auto& item : model->named_parameters()) {
    int found = 0;
    for (const optimizers::ParamGroup& g : groups) {
      for (const torch::Tensor& p : g.params) found += p.is_same(item.value());
    }
    EXPECT_EQ(found, 1) << item.key();
    const bool is_weight = item.key().size() >= 6 && item.key().substr(item.key().size() - 6) == "weight";
    for (const torch::Tensor& p : groups[0].params) {
      if (p.is_same(item.value())) {
        EXPECT_TRUE(is_weight) << item.key() << " is decayed";
      }
    }
  }
  Classifier convnet = make_model("convnet", 1, 28, 28, 10);
  const std::vector<optimizers::ParamGroup> one = parameter_groups(*convnet, optimizers::RuleOptions(0.1), own);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].weight_decay, 0.0);
  EXPECT_EQ(one[0].params.size(), convnet->parameters().size());
}

TEST(Trainer, FixedLrLearnsTheTinyProblem) {
  TrainResult r = train_classifier(rule("adam"), tiny_data(), config("logreg", 3, 0.1));
  EXPECT_EQ(r.status, tasks::Status::kOk) << r.message;
  EXPECT_EQ(r.steps_per_epoch, 8);
  EXPECT_EQ(r.total_steps, 24);
  EXPECT_EQ(r.steps_done, 24);
  ASSERT_EQ(r.epochs.size(), 3u);
  EXPECT_GT(r.val_acc, 0.95);
  EXPECT_GT(r.test_acc, 0.95);
  EXPECT_EQ(r.reward, r.val_acc);
  EXPECT_EQ(r.lr, 0.1);
  EXPECT_TRUE(r.grid.empty());
  for (size_t i = 0; i < r.epochs.size(); ++i) {
    EXPECT_EQ(r.epochs[i].epoch, static_cast<int64_t>(i + 1));
    EXPECT_EQ(r.epochs[i].steps, 8 * static_cast<int64_t>(i + 1));
    EXPECT_EQ(r.epochs[i].lr, 0.1);
    EXPECT_GE(r.epochs[i].seconds, 0.0);
    EXPECT_FALSE(std::isnan(r.epochs[i].test_acc));
  }
  EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss);
}

// Bello et al. 2017 as reimplemented: one epoch per lr, best validation accuracy wins, then the full budget.
TEST(Trainer, LrGridPicksTheBestLrByValidationAccuracy) {
  TrainConfig c = config("mlp", 2, 0);
  c.lr_grid = {1e-5, 1e-2};
  TrainResult r = train_classifier(rule("adam"), tiny_data(), c);
  EXPECT_EQ(r.status, tasks::Status::kOk) << r.message;
  ASSERT_EQ(r.grid.size(), 2u);
  EXPECT_EQ(r.grid[0].lr, 1e-5);
  EXPECT_EQ(r.grid[1].lr, 1e-2);
  EXPECT_EQ(r.grid[0].steps, 8);  // one epoch each
  EXPECT_LT(r.grid[0].val_acc, 0.6);  // 8 steps of 1e-5 leave the random initialisation near chance (0.25)
  EXPECT_GT(r.grid[1].val_acc, 0.9);
  EXPECT_EQ(r.lr, 1e-2);
  EXPECT_EQ(r.epochs.size(), 2u);
  EXPECT_EQ(r.epochs[0].lr, 1e-2);
  // The full run starts afresh from the same seed and T: its first epoch is the winning trial.
  EXPECT_EQ(r.epochs[0].train_loss, r.grid[1].train_loss);
  EXPECT_EQ(r.epochs[0].val_acc, r.grid[1].val_acc);
  // The order of the grid does not matter.
  c.lr_grid = {1e-2, 1e-5};
  EXPECT_EQ(train_classifier(rule("adam"), tiny_data(), c).lr, 1e-2);
}

// The full run continues the winning trial rather than retraining its first epoch: that must be exactly a fresh
// run at the chosen lr, every metric of every epoch bit for bit.
TEST(Trainer, GridRunEqualsAFreshRunAtTheChosenLr) {
  const DataSplits data = tiny_data(256, 8);
  TrainConfig grid = config("convnet", 3, 0);
  grid.lr_grid = {1e-4, 1e-2, 1e-5};
  grid.seed = 5;
  TrainConfig fixed = grid;
  TrainResult g = train_classifier(rule("powersign-cd"), data, grid);
  ASSERT_EQ(g.status, tasks::Status::kOk) << g.message;
  fixed.lr = g.lr;
  TrainResult f = train_classifier(rule("powersign-cd"), data, fixed);
  expect_same_metrics(g, f);
  EXPECT_EQ(g.test_acc, f.test_acc);
  EXPECT_EQ(g.steps_done, f.steps_done);
  // With test accuracy only at the end, and when the budget is one epoch (the trial is the whole run).
  grid.test_every_epoch = fixed.test_every_epoch = false;
  TrainResult late = train_classifier(rule("adam"), data, grid);
  fixed.lr = late.lr;
  expect_same_metrics(late, train_classifier(rule("adam"), data, fixed));
  grid.epochs = fixed.epochs = 1;
  TrainResult one = train_classifier(rule("adam"), data, grid);
  EXPECT_FALSE(std::isnan(one.test_acc));
  fixed.lr = one.lr;
  expect_same_metrics(one, train_classifier(rule("adam"), data, fixed));
}

// Successive halving: 8 steps per trial, so rungs at 2 and 4 steps (4 lrs: 4 → 2 → 1) or 2, 4 and 8 steps (6 lrs:
// 6 → 3 → 2 → 1). Every survivor continues its own run and the chosen run continues into the full run, so the result
// is bit for bit a fixed-lr run at the chosen lr, whether the choice falls inside the first epoch or at its end.
TEST(Trainer, HalvingRunEqualsAFreshRunAtTheChosenLrAndSkipsSteps) {
  const DataSplits data = tiny_data(256, 8);
  for (const int64_t epochs : {2, 1}) {
    SCOPED_TRACE(epochs);
    TrainConfig halving = config("convnet", epochs, 0);
    halving.lr_grid = {1e-5, 1e-4, 1e-2, 1e-3};
    halving.lr_search = "halving";
    halving.seed = 5;
    TrainResult h = train_classifier(rule("adam"), data, halving);
    ASSERT_EQ(h.status, tasks::Status::kOk) << h.message;
    ASSERT_EQ(h.grid.size(), 4u);
    std::map<std::string, std::vector<int64_t>> steps_by_status;
    for (const GridTrial& t : h.grid) steps_by_status[status_text(t.status)].push_back(t.steps);
    std::vector<int64_t> halved = steps_by_status["halved"];
    std::sort(halved.begin(), halved.end());
    EXPECT_EQ(halved, (std::vector<int64_t>{2, 2, 4}));
    EXPECT_EQ(steps_by_status["ok"], std::vector<int64_t>{4});
    for (const GridTrial& t : h.grid) {
      if (t.status == tasks::Status::kOk) {
        EXPECT_EQ(t.lr, h.lr);
      }
    }
    TrainConfig fixed = halving;
    fixed.lr = h.lr;
    TrainResult f = train_classifier(rule("adam"), data, fixed);
    expect_same_metrics(h, f);
    EXPECT_EQ(h.steps_done, f.steps_done);
    // The full grid chooses the same lr here.
    TrainConfig full = halving;
    full.lr_search = "full";
    EXPECT_EQ(train_classifier(rule("adam"), data, full).lr, h.lr);
    EXPECT_FALSE(std::isnan(h.hurdle_acc));
  }
  // Six lrs: three rungs, the last at the whole trial, where two survivors are compared as the full grid would.
  TrainConfig six = config("mlp", 2, 0);
  six.lr_grid = {1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2};
  six.lr_search = "halving";
  TrainResult r = train_classifier(rule("adam"), tiny_data(), six);
  ASSERT_EQ(r.status, tasks::Status::kOk) << r.message;
  std::vector<int64_t> halved;
  for (const GridTrial& t : r.grid) {
    if (t.status == tasks::Status::kHalved) halved.push_back(t.steps);
  }
  std::sort(halved.begin(), halved.end());
  EXPECT_EQ(halved, (std::vector<int64_t>{2, 2, 2, 4, 8}));
}

// The hurdle point: after the first epoch at a fixed lr, after the grid's trials, after the first halving rung. A
// run below the hurdle stops there with status hurdle and its accuracy there as reward; a run at the end of its
// budget has nothing left to stop.
TEST(Trainer, HurdlesStopRunsBelowThemAtTheHurdlePoint) {
  const DataSplits data = tiny_data();
  TrainConfig fixed = config("mlp", 2, 1e-5);  // slow enough that no accuracy reaches 1
  const TrainResult free_run = train_classifier(rule("adam"), data, fixed);
  ASSERT_EQ(free_run.status, tasks::Status::kOk) << free_run.message;
  ASSERT_LT(free_run.hurdle_acc, 1.0);
  EXPECT_EQ(free_run.hurdle_acc, free_run.epochs[0].val_acc);
  fixed.hurdle = free_run.hurdle_acc;  // not below: goes on
  EXPECT_EQ(train_classifier(rule("adam"), data, fixed).status, tasks::Status::kOk);
  fixed.hurdle = std::nextafter(free_run.hurdle_acc, 2.0);
  TrainResult stopped = train_classifier(rule("adam"), data, fixed);
  EXPECT_EQ(stopped.status, tasks::Status::kHurdle);
  EXPECT_EQ(stopped.reward, free_run.epochs[0].val_acc);
  EXPECT_EQ(stopped.steps_done, 8);
  EXPECT_NE(stopped.message.find("below the hurdle"), std::string::npos) << stopped.message;

  TrainConfig grid = config("mlp", 2, 0);
  grid.lr_grid = {1e-6, 1e-5};
  grid.hurdle = 1.0;
  TrainResult g = train_classifier(rule("adam"), data, grid);
  EXPECT_EQ(g.status, tasks::Status::kHurdle);
  ASSERT_LT(g.hurdle_acc, 1.0);
  EXPECT_EQ(g.reward, std::max(g.grid[0].val_acc, g.grid[1].val_acc));
  EXPECT_EQ(g.lr, g.grid[0].val_acc > g.grid[1].val_acc ? 1e-6 : 1e-5);
  EXPECT_EQ(g.steps_done, 8);
  grid.epochs = 1;  // the grid's last trial is the whole run
  EXPECT_EQ(train_classifier(rule("adam"), data, grid).status, tasks::Status::kOk);

  grid.lr_search = "halving";  // stops at the first rung (2 of 8 steps), even with one epoch
  TrainResult h = train_classifier(rule("adam"), data, grid);
  EXPECT_EQ(h.status, tasks::Status::kHurdle);
  EXPECT_EQ(h.steps_done, 2);
  EXPECT_EQ(h.reward, h.hurdle_acc);
  EXPECT_EQ(h.hurdle_acc, std::max(h.grid[0].val_acc, h.grid[1].val_acc));
  for (const GridTrial& t : h.grid) EXPECT_EQ(t.steps, 2);
  grid.hurdle = 0;
  const TrainResult passed = train_classifier(rule("adam"), data, grid);
  EXPECT_EQ(passed.status, tasks::Status::kOk);
  EXPECT_EQ(passed.hurdle_acc, h.hurdle_acc);
}

TEST(Trainer, DivergenceIsAResultWithRewardZero) {
  TrainResult r;
  ASSERT_NO_THROW(r = train_classifier(rule("sgd"), tiny_data(), config("mlp", 2, 1e8)));
  EXPECT_EQ(r.status, tasks::Status::kDiverged);
  EXPECT_EQ(r.reward, 0.0);
  EXPECT_LT(r.steps_done, r.total_steps);
  EXPECT_FALSE(r.message.empty());
  // A rule that produces NaN at once (log|0| of an all-zero average times zero).
  TrainResult nan;
  ASSERT_NO_THROW(nan = train_classifier(rule("log(g-g)*g"), tiny_data(), config("convnet", 2, 0.1)));
  EXPECT_EQ(nan.status, tasks::Status::kDiverged);
  EXPECT_EQ(nan.reward, 0.0);
}

TEST(Trainer, GridWhereEveryLrDivergesGivesDiverged) {
  TrainConfig c = config("mlp", 2, 0);
  c.lr_grid = {1e7, 1e8};
  TrainResult r = train_classifier(rule("sgd"), tiny_data(), c);
  EXPECT_EQ(r.status, tasks::Status::kDiverged);
  EXPECT_EQ(r.reward, 0.0);
  EXPECT_TRUE(std::isnan(r.lr));
  ASSERT_EQ(r.grid.size(), 2u);
  EXPECT_EQ(r.grid[0].status, tasks::Status::kDiverged);
  EXPECT_EQ(r.grid[0].val_acc, 0.0);
  EXPECT_TRUE(r.epochs.empty());
}

TEST(Trainer, SameSeedSameMetricsBitForBitDifferentSeedDiffers) {
  TrainConfig c = config("convnet", 2, 1e-2);
  c.seed = 11;
  const DataSplits data = tiny_data(256, 8);
  TrainResult a = train_classifier(rule("adam"), data, c);
  TrainResult b = train_classifier(rule("adam"), data, c);
  ASSERT_EQ(a.status, tasks::Status::kOk) << a.message;
  expect_same_metrics(a, b);
  c.seed = 12;
  TrainResult other = train_classifier(rule("adam"), data, c);
  EXPECT_NE(other.epochs[0].train_loss, a.epochs[0].train_loss);
}

TEST(Trainer, AugmentedRunsAreDeterministicToo) {
  TrainConfig c = config("convnet", 1, 1e-2);
  c.augment = true;
  const DataSplits data = tiny_data(128, 8);
  TrainResult a = train_classifier(rule("adam"), data, c);
  TrainResult b = train_classifier(rule("adam"), data, c);
  ASSERT_EQ(a.status, tasks::Status::kOk) << a.message;
  expect_same_metrics(a, b);
  c.augment = false;
  EXPECT_NE(train_classifier(rule("adam"), data, c).epochs[0].train_loss, a.epochs[0].train_loss);
}

// T (total_steps of the decays) is the full run's step count: an epoch budget and the equal step budget train alike;
// a longer budget decays more slowly, so even its first epoch differs; and the grid trial uses the same T.
TEST(Trainer, DecayHorizonIsTheFullRunStepCount) {
  const DataSplits data = tiny_data();
  TrainConfig by_epochs = config("logreg", 2, 0.5);
  TrainConfig by_steps = by_epochs;
  by_steps.steps = 16;
  TrainResult a = train_classifier(rule("ld*g"), data, by_epochs);
  TrainResult b = train_classifier(rule("ld*g"), data, by_steps);
  EXPECT_EQ(a.total_steps, 16);
  EXPECT_EQ(b.total_steps, 16);
  expect_same_metrics(a, b);
  TrainConfig longer = by_epochs;
  longer.epochs = 4;
  TrainResult c = train_classifier(rule("ld*g"), data, longer);
  EXPECT_EQ(c.total_steps, 32);
  EXPECT_NE(c.epochs[0].train_loss, a.epochs[0].train_loss);
  // With no decay the first epoch does not depend on the budget.
  EXPECT_EQ(train_classifier(rule("g"), data, longer).epochs[0].train_loss,
            train_classifier(rule("g"), data, by_epochs).epochs[0].train_loss);
  TrainConfig grid = longer;
  grid.lr = 0;
  grid.lr_grid = {0.5};
  TrainResult g = train_classifier(rule("ld*g"), data, grid);
  EXPECT_EQ(g.grid[0].train_loss, c.epochs[0].train_loss);
}

// A schedule multiplies the lr: SGD under the cosine schedule is the DSL's cosine decay operand at a constant lr
// (cd(0.5)*g: the same factor on the direction instead of the lr; float64, so only the rounding differs); a grid
// trial is the scheduled full run's first epoch; a schedule longer than the run is a UserError.
TEST(Trainer, ScheduleMultipliesTheLr) {
  const DataSplits data = tiny_data();
  TrainConfig c = config("logreg", 2, 0.5);
  c.dtype = torch::kFloat64;
  TrainConfig scheduled = c;
  scheduled.recipe.schedule = parse_schedule("cosine");
  const TrainResult by_operand = train_classifier(rule("cd(0.5)*g"), data, c);
  const TrainResult by_schedule = train_classifier(rule("g"), data, scheduled);
  ASSERT_EQ(by_operand.epochs.size(), 2u);
  ASSERT_EQ(by_schedule.epochs.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_NEAR(by_operand.epochs[i].train_loss, by_schedule.epochs[i].train_loss, 1e-9) << "epoch " << i + 1;
    EXPECT_NEAR(by_operand.epochs[i].val_acc, by_schedule.epochs[i].val_acc, 1.0 / 128) << "epoch " << i + 1;
  }
  EXPECT_GT(std::fabs(train_classifier(rule("g"), data, c).epochs[1].train_loss - by_schedule.epochs[1].train_loss),
            1e-6);
  TrainConfig grid = scheduled;
  grid.lr = 0;
  grid.lr_grid = {0.5};
  EXPECT_EQ(train_classifier(rule("g"), data, grid).grid[0].train_loss, by_schedule.epochs[0].train_loss);
  TrainConfig bad = scheduled;
  bad.recipe.schedule = parse_schedule("cosine,warmup=1000");
  EXPECT_THROW(train_classifier(rule("g"), data, bad), UserError);
  // horizon_epochs: a 1-epoch run standing for the 2-epoch run is that run's first epoch, bit for bit (schedule and
  // decay operand alike), and not the 1-epoch run's own (whose cosine reaches 0 within the epoch).
  TrainConfig first = scheduled;
  first.epochs = 1;
  first.horizon_epochs = 2;
  const TrainResult truncated = train_classifier(rule("g"), data, first);
  ASSERT_EQ(truncated.epochs.size(), 1u);
  EXPECT_EQ(truncated.epochs[0].train_loss, by_schedule.epochs[0].train_loss);
  EXPECT_EQ(truncated.steps_done, 8);
  const Recipe constant;
  first.recipe = constant;
  EXPECT_EQ(train_classifier(rule("cd(0.5)*g"), data, first).epochs[0].train_loss, by_operand.epochs[0].train_loss);
  first.horizon_epochs = 0;
  EXPECT_NE(train_classifier(rule("cd(0.5)*g"), data, first).epochs[0].train_loss, by_operand.epochs[0].train_loss);
}

// Decoupled and coupled decay with mask `weights`: one step of plain SGD on zero gradients leaves every bias and
// batch-norm parameter of the ConvNet as it was and shrinks every weight by exactly (1 − lr·λ); mask `all` shrinks
// them too. 3c3d keeps its own L2 on its weights in decoupled mode, beside the decoupled λ.
TEST(Trainer, WeightDecayMaskSkipsBiasesAndBatchNorm) {
  for (const std::string mode : {"decoupled", "coupled"}) {
    for (const std::string mask : {"weights", "all"}) {
      Classifier model = make_model("convnet", 1, 12, 12, 4);
      model->to(torch::kFloat64);
      Recipe recipe;
      recipe.weight_decay = 0.1;
      recipe.weight_decay_mode = mode;
      recipe.weight_decay_mask = mask;
      const optimizers::RuleOptions options = optimizers::RuleOptions(0.5);
      auto optimizer = optimizers::make_training_optimizer(rule("sgd"), parameter_groups(*model, options, recipe),
                                                           options);
      std::vector<torch::Tensor> before;
      for (const torch::Tensor& p : model->parameters()) {
        before.push_back(p.detach().clone());
        p.mutable_grad() = torch::zeros_like(p);
      }
      optimizer->step();
      int shrunk = 0, kept = 0;
      for (const auto& item : model->named_parameters()) {
        const torch::Tensor& p = item.value();
        const torch::Tensor& b = before[static_cast<size_t>(shrunk + kept)];
        const bool decayed = mask == "all" || p.dim() >= 2;
        const torch::Tensor expected = decayed ? b * (1 - 0.5 * 0.1) : b;
        EXPECT_LE((p.detach() - expected).abs().max().item<double>(), 1e-15) << mode << " " << mask << " "
                                                                              << item.key();
        (decayed ? shrunk : kept) += 1;
      }
      EXPECT_GT(shrunk, 0);
      EXPECT_EQ(kept > 0, mask == "weights") << mode << " " << mask;  // biases and bn1/bn2 weight and bias
    }
  }
  Classifier three = make_model("3c3d", 3, 32, 32, 10);
  Recipe decoupled;
  decoupled.weight_decay = 0.01;
  decoupled.weight_decay_mode = "decoupled";
  const std::vector<optimizers::ParamGroup> groups =
      parameter_groups(*three, optimizers::RuleOptions(0.1), decoupled);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].weight_decay, 0.002);  // the model's L2 stays coupled
  EXPECT_EQ(groups[0].decoupled_weight_decay, 0.01);
  EXPECT_EQ(groups[1].weight_decay, 0.0);    // biases: neither
  EXPECT_EQ(groups[1].decoupled_weight_decay, 0.0);
}

// adam with decoupled decay 0.01 on every parameter is torch.optim.AdamW's trajectory (LibTorch's own class), and
// the named adamw rule's; with mask `weights` both follow the mask alike; a native row without a decoupled decay
// refuses one.
TEST(Trainer, AdamWithDecoupledDecayIsTorchAdamW) {
  const DataSplits data = tiny_data();
  TrainConfig c = config("mlp", 2, 0.01);
  c.dtype = torch::kFloat64;
  TrainConfig all = c;
  all.recipe.weight_decay = 0.01;
  all.recipe.weight_decay_mode = "decoupled";
  all.recipe.weight_decay_mask = "all";
  const TrainResult native = train_classifier(rule("torch-adamw"), data, c);
  const TrainResult by_recipe = train_classifier(rule("adam"), data, all);
  const TrainResult named = train_classifier(rule("adamw"), data, c);
  ASSERT_EQ(native.epochs.size(), 2u);
  ASSERT_EQ(by_recipe.epochs.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_NEAR(by_recipe.epochs[i].train_loss, native.epochs[i].train_loss,
                1e-9 * std::fabs(native.epochs[i].train_loss)) << "epoch " << i + 1;
    EXPECT_EQ(by_recipe.epochs[i].train_loss, named.epochs[i].train_loss) << "epoch " << i + 1;
  }
  TrainConfig weights = all;
  weights.recipe.weight_decay = 1.0;  // large, so that sparing the biases shows
  weights.recipe.weight_decay_mask = "weights";
  const TrainResult native_masked = train_classifier(rule("torch-adamw"), data, weights);
  const TrainResult masked = train_classifier(rule("adam"), data, weights);
  all.recipe.weight_decay = 1.0;
  const TrainResult unmasked = train_classifier(rule("adam"), data, all);
  EXPECT_NEAR(masked.epochs[1].train_loss, native_masked.epochs[1].train_loss,
              1e-9 * std::fabs(native_masked.epochs[1].train_loss));
  EXPECT_GT(std::fabs(masked.epochs[1].train_loss - unmasked.epochs[1].train_loss), 1e-9);
  EXPECT_THROW(train_classifier(rule("torch-adam"), data, weights), UserError);
  weights.recipe.weight_decay_mode = "coupled";
  EXPECT_NO_THROW(train_classifier(rule("torch-adam"), data, weights));
}

// Clipping acts on the gradient before the rule: a tiny bound (by global norm or by value) holds SGD at lr 1 almost
// still, a bound far above the gradients changes nothing, bit for bit.
TEST(Trainer, ClippingBoundsTheGradient) {
  const DataSplits data = tiny_data();
  TrainConfig c = config("logreg", 2, 1.0);
  c.dtype = torch::kFloat64;
  const TrainResult free = train_classifier(rule("sgd"), data, c);
  ASSERT_EQ(free.epochs.size(), 2u);
  EXPECT_LT(free.epochs[1].train_loss, free.epochs[0].train_loss - 0.01);
  for (const std::string key : {"clip_norm", "clip_value"}) {
    TrainConfig tiny = c;
    set_recipe_key(tiny.recipe, key, "1e-9", key);
    const TrainResult held = train_classifier(rule("sgd"), data, tiny);
    ASSERT_EQ(held.epochs.size(), 2u) << key;
    EXPECT_NEAR(held.epochs[1].train_loss, held.epochs[0].train_loss, 1e-6) << key;
    TrainConfig loose = c;
    set_recipe_key(loose.recipe, key, "1e30", key);
    EXPECT_EQ(train_classifier(rule("sgd"), data, loose).epochs[1].train_loss, free.epochs[1].train_loss) << key;
  }
}

// Clipping comes before the coupled decay (README, "The training recipe"): with the gradient clipped to 1e-9 SGD holds
// still, yet a coupled λ still shrinks the weights (w ← w − lr·(clip(g) + λ·w)), so the loss moves; were the decay
// added before the clip, the update would be clipped to 1e-9 with it and the loss would stay put.
TEST(Trainer, ClippingComesBeforeTheCoupledDecay) {
  const DataSplits data = tiny_data();
  TrainConfig c = config("mlp", 2, 1.0);
  c.dtype = torch::kFloat64;
  set_recipe_key(c.recipe, "clip_value", "1e-9", "clip_value");
  const TrainResult held = train_classifier(rule("sgd"), data, c);
  ASSERT_EQ(held.epochs.size(), 2u);
  EXPECT_NEAR(held.epochs[1].train_loss, held.epochs[0].train_loss, 1e-6);
  TrainConfig decayed = c;
  set_recipe_key(decayed.recipe, "weight_decay", "0.1", "weight_decay");
  set_recipe_key(decayed.recipe, "weight_decay_mask", "all", "weight_decay_mask");
  const TrainResult shrunk = train_classifier(rule("sgd"), data, decayed);
  ASSERT_EQ(shrunk.epochs.size(), 2u);
  EXPECT_GT(std::fabs(shrunk.epochs[1].train_loss - held.epochs[1].train_loss), 1e-5)
      << "the coupled decay did not act on gradients clipped to 1e-9";
}

TEST(Trainer, StepBudgetsEndWithAPartialEpoch) {
  TrainConfig c = config("logreg", 99, 0.1);
  c.steps = 12;
  TrainResult r = train_classifier(rule("adam"), tiny_data(), c);
  EXPECT_EQ(r.total_steps, 12);
  ASSERT_EQ(r.epochs.size(), 2u);
  EXPECT_EQ(r.epochs[0].steps, 8);
  EXPECT_EQ(r.epochs[1].steps, 12);
  // A grid trial is one epoch, or the whole budget when that is shorter.
  c.steps = 5;
  c.lr = 0;
  c.lr_grid = {0.1, 0.01};
  TrainResult shorter = train_classifier(rule("adam"), tiny_data(), c);
  EXPECT_EQ(shorter.grid[0].steps, 5);
  EXPECT_EQ(shorter.steps_done, 5);
}

TEST(Trainer, StepsPerEpochDropTheLastPartialBatch) {
  EXPECT_EQ(steps_per_epoch(50000, 128), 390);
  EXPECT_EQ(steps_per_epoch(256, 32), 8);
  EXPECT_EQ(steps_per_epoch(255, 32), 7);
  EXPECT_EQ(steps_per_epoch(10, 32), 1);  // a set smaller than a batch is one batch
}

TEST(Trainer, TestAccuracyOnlyAtTheEndWhenAsked) {
  TrainConfig c = config("logreg", 2, 0.1);
  c.test_every_epoch = false;
  TrainResult r = train_classifier(rule("adam"), tiny_data(), c);
  ASSERT_EQ(r.epochs.size(), 2u);
  EXPECT_TRUE(std::isnan(r.epochs[0].test_acc));
  EXPECT_FALSE(std::isnan(r.epochs[1].test_acc));
  EXPECT_EQ(r.test_acc, r.epochs[1].test_acc);
}

TEST(Trainer, TimeLimitGivesTimeout) {
  TrainConfig c = config("logreg", 5, 0.1);
  c.time_limit_seconds = 1e-9;
  TrainResult r = train_classifier(rule("adam"), tiny_data(), c);
  EXPECT_EQ(r.status, tasks::Status::kTimeout);
  EXPECT_EQ(r.reward, 0.0);
  EXPECT_LT(r.steps_done, r.total_steps);
}

TEST(Trainer, ProgressReportsEveryCheckAndEpoch) {
  std::vector<TrainProgress> seen;
  TrainConfig c = config("logreg", 2, 0);
  c.lr_grid = {0.1, 0.01};
  train_classifier(rule("adam"), tiny_data(), c, [&](const TrainProgress& p) { seen.push_back(p); });
  // Per epoch: a check at step 4 and the epoch's end at 8; one epoch per trial, and the full run continues the
  // winning trial with its second epoch.
  ASSERT_EQ(seen.size(), 2u * 2 + 2);
  EXPECT_EQ(seen[0].phase, "lr grid 1/2");
  EXPECT_EQ(seen[0].step, 4);
  EXPECT_EQ(seen.back().phase, "train");
  EXPECT_EQ(seen.back().epoch, 2);
  EXPECT_EQ(seen.back().step, 16);
  EXPECT_GE(seen.back().val_acc, 0.0);
  EXPECT_NEAR(seen.back().eta_seconds, 0.0, 1e-9);
  // Every report counts the whole run (2 epochs, 16 steps), though the run is advanced one part at a time; the
  // report closing an epoch says so (a log prints one line per epoch from it).
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].epochs, 2) << i;
    EXPECT_EQ(seen[i].steps, 16) << i;
    EXPECT_EQ(seen[i].epoch_end, i % 2 == 1) << i;
  }
}

TEST(Trainer, BadConfigurationsAreUserErrors) {
  const DataSplits data = tiny_data();
  TrainConfig c = config("logreg", 1, 0.1);
  c.batch_size = 0;
  EXPECT_THROW(train_classifier(rule("adam"), data, c), UserError);
  c = config("logreg", 0, 0.1);
  EXPECT_THROW(train_classifier(rule("adam"), data, c), UserError);
  c = config("logreg", 1, 0);
  c.lr_grid = {};
  EXPECT_THROW(train_classifier(rule("adam"), data, c), UserError);
  c.lr_grid = {0.1, -1};
  EXPECT_THROW(train_classifier(rule("adam"), data, c), UserError);
  c = config("nonet", 1, 0.1);
  EXPECT_THROW(train_classifier(rule("adam"), data, c), UserError);
  c = config("logreg", 1, 0);
  c.lr_search = "thirds";
  EXPECT_THROW(train_classifier(rule("adam"), data, c), UserError);
  c = config("logreg", 1, 0.1);
  c.hurdle = 1.5;
  EXPECT_THROW(train_classifier(rule("adam"), data, c), UserError);
  DataSplits no_validation = data;
  no_validation.validation = Dataset{};
  EXPECT_THROW(train_classifier(rule("adam"), no_validation, config("logreg", 1, 0.1)), UserError);
}

std::string refusal(const std::string& name, const std::string& model, const Recipe& recipe) {
  try {
    check_rule_recipe(optimizers::resolve_rule(name), model, recipe);
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

// What a run would refuse mid-run is refused before it (issue 33): LibTorch's classes take no decoupled decay but
// torch-adamw, which takes no coupled one (a recipe's, or 3c3d's own L2); compiled rules take any decay.
TEST(Trainer, RuleAndRecipeCombinationsNoRunCanTakeAreRefusedUpFront) {
  Recipe coupled;
  set_recipe_key(coupled, "weight_decay", "0.05", "test");
  Recipe decoupled = coupled;
  set_recipe_key(decoupled, "weight_decay_mode", "decoupled", "test");
  const std::string adamw_coupled = refusal("torch-adamw", "convnet", coupled);
  EXPECT_NE(adamw_coupled.find("torch-adamw cannot train convnet with weight_decay: 0.05"), std::string::npos)
      << adamw_coupled;
  EXPECT_NE(adamw_coupled.find("coupled L2 penalty of 0.05"), std::string::npos) << adamw_coupled;
  EXPECT_EQ(adamw_coupled.find("this model's"), std::string::npos) << adamw_coupled;
  EXPECT_EQ(refusal("torch-adamw", "convnet", decoupled), "");
  EXPECT_EQ(refusal("torch-adamw", "convnet", Recipe{}), "");
  EXPECT_NE(refusal("torch-adamw", "3c3d", Recipe{}).find("the rule's and the model's own weight decay"),
            std::string::npos);
  EXPECT_NE(refusal("torch-adam", "convnet", decoupled).find("has no decoupled weight decay"), std::string::npos);
  EXPECT_EQ(refusal("torch-adam", "convnet", coupled), "");
  for (const char* dsl : {"adam", "adamw", "powersign"}) {
    EXPECT_EQ(refusal(dsl, "convnet", coupled), "") << dsl;
    EXPECT_EQ(refusal(dsl, "convnet", decoupled), "") << dsl;
    EXPECT_EQ(refusal(dsl, "3c3d", Recipe{}), "") << dsl;
  }
  // adamw under a coupled decay runs as Adam with L2: a warning naming the flag that keeps it AdamW.
  const std::string warning = rule_recipe_warning(optimizers::resolve_rule("adamw"), coupled);
  EXPECT_NE(warning.find("adamw's own decoupled weight decay (0.01) is replaced by weight_decay 0.05 applied coupled"),
            std::string::npos)
      << warning;
  EXPECT_NE(warning.find("--weight-decay-mode decoupled"), std::string::npos) << warning;
  EXPECT_EQ(rule_recipe_warning(optimizers::resolve_rule("adamw"), decoupled), "");
  EXPECT_EQ(rule_recipe_warning(optimizers::resolve_rule("adamw"), Recipe{}), "");
  EXPECT_EQ(rule_recipe_warning(optimizers::resolve_rule("adam"), coupled), "");
}

}  // namespace
}  // namespace nos::tasks

namespace nos::tasks {
namespace {

// The fused kernel (the default) and the reference chain of torch ops train the same child: the same accuracies
// and losses to float rounding (the kernel agrees with the reference within a few ulp per step).
TEST(Trainer, FusedKernelLeavesResultsUnchanged) {
  const DataSplits data = tiny_data(256, 8);
  for (const char* name : {"adam", "powersign", "addsign-ld", "momentum", "drop(g, 0.1) + noise*m"}) {
    SCOPED_TRACE(name);
    TrainConfig c = config("convnet", 2, std::string(name) == "adam" ? 1e-2 : 0.05);
    c.seed = 5;
    ASSERT_TRUE(c.fused_kernel);  // the default
    const TrainResult fused = train_classifier(rule(name), data, c);
    c.fused_kernel = false;
    const TrainResult reference = train_classifier(rule(name), data, c);
    ASSERT_EQ(fused.status, tasks::Status::kOk) << fused.message;
    ASSERT_EQ(reference.status, tasks::Status::kOk) << reference.message;
    ASSERT_EQ(fused.epochs.size(), reference.epochs.size());
    for (size_t i = 0; i < fused.epochs.size(); ++i) {
      EXPECT_NEAR(fused.epochs[i].train_loss, reference.epochs[i].train_loss,
                  1e-4 * std::fabs(reference.epochs[i].train_loss));
      EXPECT_EQ(fused.epochs[i].val_acc, reference.epochs[i].val_acc) << "epoch " << i + 1;
      EXPECT_EQ(fused.epochs[i].test_acc, reference.epochs[i].test_acc) << "epoch " << i + 1;
    }
  }
}

// bfloat16 autocast (dtype bfloat16): the forward passes change (the losses differ from float32's), the run still
// learns, it is deterministic, the weights stay float32, and the thread's autocast state is as before afterwards.
TEST(Trainer, Bfloat16AutocastLearnsDeterministicallyAndLeavesNoState) {
  const DataSplits data = tiny_data(256, 8);
  TrainConfig c = config("convnet", 2, 1e-2);
  c.seed = 5;
  const TrainResult f32 = train_classifier(rule("adam"), data, c);
  c.bfloat16_autocast = true;
  const TrainResult bf16 = train_classifier(rule("adam"), data, c);
  const TrainResult again = train_classifier(rule("adam"), data, c);
  ASSERT_EQ(f32.status, tasks::Status::kOk) << f32.message;
  ASSERT_EQ(bf16.status, tasks::Status::kOk) << bf16.message;
  EXPECT_GT(bf16.val_acc, 0.9);
  EXPECT_NE(bf16.epochs[0].train_loss, f32.epochs[0].train_loss);  // autocast did change the forward pass
  EXPECT_NEAR(bf16.epochs[0].train_loss, f32.epochs[0].train_loss, 0.1 * f32.epochs[0].train_loss);
  expect_same_metrics(bf16, again);
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  c.dtype = torch::kFloat64;
  EXPECT_THROW(train_classifier(rule("adam"), data, c), UserError);
}

TEST(Trainer, AutocastScopeNestsAndRestores) {
  const torch::Tensor x = torch::randn({2, 3, 8, 8});
  const torch::Tensor w = torch::randn({4, 3, 3, 3});
  ASSERT_FALSE(at::autocast::is_cpu_enabled());
  {
    AutocastScope outer(true, torch::kCPU);
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
    EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kBFloat16);
    {
      AutocastScope off(false, torch::kCPU);  // does nothing
      EXPECT_TRUE(at::autocast::is_cpu_enabled());
      AutocastScope inner(true, torch::kCPU);
      EXPECT_TRUE(at::autocast::is_cpu_enabled());
    }
    EXPECT_TRUE(at::autocast::is_cpu_enabled());  // the inner scope restored the outer one's state
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kFloat32);
}

// The profile of one epoch: every step timed, the phases adding up to the epoch, both evaluations and the extra
// batch sizes timed on the whole split.
TEST(Trainer, ProfileSplitsOneEpochIntoItsPhases) {
  const DataSplits data = tiny_data(256, 8);
  const TrainConfig c = config("convnet", 1, 1e-2);
  const ChildProfile p = profile_child(rule("adam"), data, c, {16, 128});
  EXPECT_EQ(p.steps, 8);
  EXPECT_EQ(p.batch, 32);
  for (double phase : {p.to_device, p.setup, p.gather, p.forward, p.backward, p.update, p.other}) EXPECT_GE(phase, 0);
  EXPECT_GT(p.forward, 0);
  EXPECT_GT(p.backward, 0);
  EXPECT_GT(p.update, 0);
  const double parts = p.gather + p.forward + p.backward + p.update + p.other + p.validation.seconds + p.test.seconds;
  EXPECT_NEAR(parts, p.epoch, 1e-9 * p.epoch);
  EXPECT_EQ(p.validation.images, 128);
  EXPECT_EQ(p.validation.batch, 64);  // the config's eval_batch_size
  EXPECT_EQ(p.test.images, 128);
  ASSERT_EQ(p.validation_at.size(), 2u);
  EXPECT_EQ(p.validation_at[0].batch, 16);
  EXPECT_EQ(p.validation_at[1].batch, 128);
  EXPECT_GT(p.validation_at[1].seconds, 0);
  TrainConfig grid = c;
  grid.lr = 0;
  EXPECT_THROW(profile_child(rule("adam"), data, grid), UserError);
  EXPECT_THROW(profile_child(rule("adam"), data, c, {0}), UserError);
}

}  // namespace
}  // namespace nos::tasks
