// Unit tests of RuleOptimizer: exact answers on hand-computed gradients, state, groups, dtypes, views, save/load.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "dsl/update.h"
#include "test_util.h"

namespace nos::optimizers {
namespace {

using testing::compile_rule;
using testing::make_rule_optimizer;
using testing::parameter;
using testing::set_grad;

std::vector<double> values(const torch::Tensor& t) {
  auto flat = t.detach().to(torch::kFloat64).cpu().contiguous().view(-1);
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

const RuleParamState& state_of(const RuleOptimizer& opt, const torch::Tensor& p) {
  return static_cast<const RuleParamState&>(*opt.state().at(param_state_key(p)));
}

TEST(RuleOptimizer, PlainGradientStep) {
  torch::Tensor w = parameter({1.0, 2.0, 3.0});
  auto opt = make_rule_optimizer("g", {w}, RuleOptions(0.5));
  set_grad(w, {0.2, -0.4, 1.0});
  opt.step();
  std::vector<double> got = values(w);
  EXPECT_DOUBLE_EQ(got[0], 0.9);
  EXPECT_DOUBLE_EQ(got[1], 2.2);
  EXPECT_DOUBLE_EQ(got[2], 2.5);
  EXPECT_EQ(state_of(opt, w).step(), 1);
  EXPECT_TRUE(state_of(opt, w).averages().empty());
}

TEST(RuleOptimizer, BiasCorrectedMomentumIsTheGradientAtStepOne) {
  // m̂ = (0.1·g)/(1 − 0.9) = g after the first update (Kingma & Ba 2015, bias correction).
  torch::Tensor w = parameter({0.0, 0.0});
  auto opt = make_rule_optimizer("m", {w}, RuleOptions(1.0));
  set_grad(w, {1.0, -4.0});
  opt.step();
  EXPECT_NEAR(values(w)[0], -1.0, 1e-15);
  EXPECT_NEAR(values(w)[1], 4.0, 1e-15);
  // Second update, g = (3, 2): m = 0.9·(0.1, −0.4) + 0.1·(3, 2) = (0.39, −0.16); m̂ = m/(1 − 0.81).
  set_grad(w, {3.0, 2.0});
  opt.step();
  EXPECT_NEAR(values(w)[0], -1.0 - 0.39 / 0.19, 1e-14);
  EXPECT_NEAR(values(w)[1], 4.0 + 0.16 / 0.19, 1e-14);
  ASSERT_EQ(state_of(opt, w).averages().size(), 1u);
  EXPECT_NEAR(values(state_of(opt, w).averages()[0])[0], 0.39, 1e-15);
}

TEST(RuleOptimizer, UncorrectedMomentumKeepsTheRawAverage) {
  torch::Tensor w = parameter({0.0});
  auto opt = make_rule_optimizer("m", {w}, RuleOptions(1.0).bias_correction(false));
  set_grad(w, {1.0});
  opt.step();
  EXPECT_NEAR(values(w)[0], -0.1, 1e-16);
  set_grad(w, {1.0});
  opt.step();
  EXPECT_NEAR(values(w)[0], -0.1 - 0.19, 1e-15);
}

TEST(RuleOptimizer, AdamFirstStepIsTheSignTimesLr) {
  // At t = 1, m̂ = g and v̂ = g², so adam = g/(|g| + 1e-8) ≈ sign(g).
  torch::Tensor w = parameter({1.0, 1.0, 1.0});
  auto opt = make_rule_optimizer("adam", {w}, RuleOptions(0.1));
  set_grad(w, {0.5, -2.0, 0.0});
  opt.step();
  std::vector<double> got = values(w);
  EXPECT_NEAR(got[0], 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-14);
  EXPECT_NEAR(got[1], 1.0 + 0.1 * 2.0 / (2.0 + 1e-8), 1e-14);
  EXPECT_EQ(got[2], 1.0);
  EXPECT_EQ(state_of(opt, w).averages().size(), 2u);
}

TEST(RuleOptimizer, WeightDecayIsAddedToTheGradient) {
  // PyTorch's coupled L2: g ← g + wd·w.
  torch::Tensor w = parameter({2.0, -1.0});
  auto opt = make_rule_optimizer("g", {w}, RuleOptions(0.5).weight_decay(0.1));
  set_grad(w, {1.0, 1.0});
  opt.step();
  EXPECT_DOUBLE_EQ(values(w)[0], 2.0 - 0.5 * (1.0 + 0.2));
  EXPECT_DOUBLE_EQ(values(w)[1], -1.0 - 0.5 * (1.0 - 0.1));
  // The stored gradient itself is left alone.
  EXPECT_EQ(values(w.grad())[0], 1.0);
}

TEST(RuleOptimizer, LinearDecayUsesTheStepBeforeTheUpdate) {
  // ld at t = 0, 1, 2, 3, 4, 5 with T = 4: 1, .75, .5, .25, 0, 0.
  torch::Tensor w = parameter({0.0});
  auto opt = make_rule_optimizer("ld*g", {w}, RuleOptions(1.0).total_steps(4));
  const std::vector<double> expected_total = {-1.0, -1.75, -2.25, -2.5, -2.5, -2.5};
  for (double total : expected_total) {
    set_grad(w, {1.0});
    opt.step();
    EXPECT_NEAR(values(w)[0], total, 1e-15);
  }
}

TEST(RuleOptimizer, RuleReadingTheWeight) {
  // "w" pulls the weight to zero: w ← (1 − lr)·w.
  torch::Tensor w = parameter({4.0, -2.0});
  auto opt = make_rule_optimizer("w", {w}, RuleOptions(0.25));
  set_grad(w, {0.0, 0.0});
  opt.step();
  EXPECT_DOUBLE_EQ(values(w)[0], 3.0);
  EXPECT_DOUBLE_EQ(values(w)[1], -1.5);
}

TEST(RuleOptimizer, ParameterWithoutGradientIsUntouchedAndHasNoState) {
  for (const char* rule : {"adam", "g+noise", "drop(m, 0.5)"}) {
    SCOPED_TRACE(rule);
    torch::Tensor with = parameter({1.0, 2.0}), without = parameter({3.0, 4.0});
    auto opt = make_rule_optimizer(rule, {with, without}, RuleOptions(0.1));
    for (int i = 0; i < 3; ++i) {
      set_grad(with, {0.5, 0.5});
      opt.step();
    }
    EXPECT_EQ(values(without), (std::vector<double>{3.0, 4.0}));
    EXPECT_FALSE(without.grad().defined());
    EXPECT_EQ(opt.state().size(), 1u);
    EXPECT_EQ(opt.state().count(param_state_key(without)), 0u);
    EXPECT_NE(values(with), (std::vector<double>{1.0, 2.0}));
  }
}

// The fused kernel (the default on the CPU) and the reference torch-op path give the same parameters and state over
// many steps, across groups with and without weight decay and a parameter that never gets a gradient.
TEST(RuleOptimizer, FusedAndReferencePathsAgree) {
  for (const char* rule : {"adam", "exp(sign(g)*sign(m))*g", "(1+ld*sign(g)*sign(m))*g", "clip(g/(sqrt(v)+1),0.1)",
                           "drop(m, 0.3) + noise"}) {
    for (torch::Dtype dtype : {torch::kFloat32, torch::kFloat64}) {
      SCOPED_TRACE(rule);
      auto run = [&](bool fused) {
        torch::manual_seed(3);
        torch::Tensor a = torch::randn({37, 5}, dtype).requires_grad_(true);
        torch::Tensor b = torch::randn({1001}, dtype).requires_grad_(true);
        torch::Tensor idle = torch::randn({9}, dtype).requires_grad_(true);
        const torch::Tensor idle_before = idle.detach().clone();
        RuleOptions decayed = RuleOptions(0.01).weight_decay(1e-3).total_steps(50).seed(9).fused(fused);
        std::vector<torch::optim::OptimizerParamGroup> groups;
        groups.emplace_back(std::vector<torch::Tensor>{a}, std::make_unique<RuleOptions>(decayed));
        groups.emplace_back(std::vector<torch::Tensor>{b, idle},
                            std::make_unique<RuleOptions>(RuleOptions(0.02).total_steps(50).seed(9).fused(fused)));
        RuleOptimizer opt(std::move(groups), compile_rule(rule), RuleOptions().total_steps(50).fused(fused));
        for (int i = 0; i < 20; ++i) {
          a.mutable_grad() = torch::randn_like(a);
          b.mutable_grad() = torch::randn_like(b);
          opt.step();
        }
        EXPECT_TRUE(torch::equal(idle.detach(), idle_before));  // no gradient: a no-op, no state
        EXPECT_EQ(opt.state().count(param_state_key(idle)), 0u);
        return std::make_pair(a.detach().clone(), b.detach().clone());
      };
      const auto fused = run(true), reference = run(false);
      const double tol = dtype == torch::kFloat32 ? 1e-5 : 1e-12;
      EXPECT_LT(testing::max_relative_error(fused.first, reference.first, 1e-3), tol);
      EXPECT_LT(testing::max_relative_error(fused.second, reference.second, 1e-3), tol);
    }
  }
}

TEST(RuleOptimizer, ParamGroupsKeepTheirOwnLearningRates) {
  torch::Tensor a = parameter({1.0}), b = parameter({1.0});
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{a}, std::make_unique<RuleOptions>(0.1));
  groups.emplace_back(std::vector<torch::Tensor>{b});  // takes the defaults
  RuleOptimizer opt(std::move(groups), compile_rule("g"), RuleOptions(0.5));
  set_grad(a, {1.0});
  set_grad(b, {1.0});
  opt.step();
  EXPECT_DOUBLE_EQ(values(a)[0], 0.9);
  EXPECT_DOUBLE_EQ(values(b)[0], 0.5);
  EXPECT_EQ(opt.param_groups()[0].options().get_lr(), 0.1);
  opt.param_groups()[1].options().set_lr(0.25);
  opt.step();
  EXPECT_DOUBLE_EQ(values(a)[0], 0.8);
  EXPECT_DOUBLE_EQ(values(b)[0], 0.25);
}

TEST(RuleOptimizer, Float32AndFloat64AgreeAndKeepTheirDtype) {
  torch::manual_seed(3);
  torch::Tensor start = torch::randn({4, 3}, torch::kFloat64);
  std::vector<torch::Tensor> grads;
  for (int i = 0; i < 20; ++i) grads.push_back(torch::randn({4, 3}, torch::kFloat64));
  for (const char* rule : {"adam", "exp(sign(g)*sign(m))*g", "g/sqrt(v(0.99))", "(1+sign(g)*sign(m))*g"}) {
    SCOPED_TRACE(rule);
    std::vector<torch::Tensor> finals;
    for (torch::Dtype dtype : {torch::kFloat32, torch::kFloat64}) {
      torch::Tensor w = start.to(dtype).clone().requires_grad_(true);
      auto opt = make_rule_optimizer(rule, {w}, RuleOptions(0.01));
      for (const auto& g : grads) {
        w.mutable_grad() = g.to(dtype).clone();
        opt.step();
      }
      EXPECT_EQ(w.scalar_type(), dtype);
      for (const auto& avg : state_of(opt, w).averages()) EXPECT_EQ(avg.scalar_type(), dtype);
      finals.push_back(w.detach().to(torch::kFloat64));
    }
    EXPECT_LE(testing::max_relative_error(finals[0], finals[1], 1e-3), 1e-5);
  }
}

TEST(RuleOptimizer, NonContiguousParameterUpdatesLikeAContiguousOne) {
  torch::manual_seed(5);
  torch::Tensor storage = torch::randn({3, 4}, torch::kFloat64);
  torch::Tensor view = storage.t().requires_grad_(true);  // a transposed leaf sharing storage's memory
  ASSERT_FALSE(view.is_contiguous());
  torch::Tensor plain = view.detach().contiguous().requires_grad_(true);
  auto opt_view = make_rule_optimizer("adam+0.1*m(0.8)*w", {view}, RuleOptions(0.05));
  auto opt_plain = make_rule_optimizer("adam+0.1*m(0.8)*w", {plain}, RuleOptions(0.05));
  for (int i = 0; i < 10; ++i) {
    torch::Tensor g = torch::randn({4, 3}, torch::kFloat64);
    view.mutable_grad() = g.t().contiguous().t();  // a non-contiguous gradient too
    plain.mutable_grad() = g.clone();
    opt_view.step();
    opt_plain.step();
  }
  EXPECT_TRUE(torch::equal(view.detach(), plain.detach()));
  EXPECT_TRUE(torch::equal(storage, plain.detach().t()));  // the update landed in the shared memory
}

TEST(RuleOptimizer, StepEvaluatesTheClosureWithGradientsOn) {
  torch::Tensor w = parameter({3.0});
  auto opt = make_rule_optimizer("g", {w}, RuleOptions(0.25));
  torch::Tensor loss = opt.step([&] {
    opt.zero_grad();
    torch::Tensor l = (w * w).sum();
    l.backward();
    return l;
  });
  EXPECT_DOUBLE_EQ(loss.item<double>(), 9.0);
  EXPECT_DOUBLE_EQ(values(w)[0], 3.0 - 0.25 * 6.0);
}

// Runs `steps` steps with gradients drawn from `data_seed`.
void run_steps(RuleOptimizer& opt, const torch::Tensor& w, int steps, uint64_t data_seed) {
  auto gen = at::globalContext().defaultGenerator(torch::kCPU).clone();
  gen.set_current_seed(data_seed);
  for (int i = 0; i < steps; ++i) {
    w.mutable_grad() = at::randn(w.sizes(), gen, w.options().requires_grad(false));
    opt.step();
  }
}

TEST(RuleOptimizer, SaveLoadRoundTripContinuesTheSameTrajectory) {
  for (const char* rule : {"adam", "exp(cd*sign(g)*sign(m(0.8)))*g+y", "g+noise", "drop(g, 0.5)*anoise"}) {
    SCOPED_TRACE(rule);
    torch::Tensor w = parameter({1.0, -2.0, 3.0, 0.5});
    const RuleOptions options = RuleOptions(0.01).total_steps(20).seed(42);
    auto opt = make_rule_optimizer(rule, {w}, options);
    run_steps(opt, w, 5, 1);

    std::stringstream saved;
    torch::save(opt, saved);
    torch::Tensor w_copy = w.detach().clone().requires_grad_(true);
    auto restored = make_rule_optimizer(rule, {w_copy}, options);
    torch::load(restored, saved);
    EXPECT_EQ(state_of(restored, w_copy).step(), 5);
    EXPECT_TRUE(state_of(restored, w_copy) == state_of(opt, w));

    run_steps(opt, w, 5, 2);
    run_steps(restored, w_copy, 5, 2);
    EXPECT_TRUE(torch::equal(w.detach(), w_copy.detach()));
  }
}

TEST(RuleOptimizer, OptionsSerializeBothWays) {
  RuleOptions options =
      RuleOptions(0.3).weight_decay(0.01).total_steps(123).seed(~uint64_t{0} - 5).bias_correction(false).fused(false);
  torch::serialize::OutputArchive out;
  options.serialize(out);
  std::stringstream buffer;
  out.save_to(buffer);
  torch::serialize::InputArchive in;
  in.load_from(buffer);
  RuleOptions back(0);
  back.serialize(in);
  EXPECT_TRUE(back == options);
  EXPECT_FALSE(back == RuleOptions(0.3));
}

TEST(RuleOptimizer, LoadingStateOfAnotherRuleIsAUserError) {
  torch::Tensor w = parameter({1.0});
  auto adam = make_rule_optimizer("adam", {w}, RuleOptions(0.1));
  run_steps(adam, w, 2, 1);
  std::stringstream saved;
  torch::save(adam, saved);
  auto plain_m = make_rule_optimizer("m", {w}, RuleOptions(0.1));
  torch::load(plain_m, saved);
  w.mutable_grad() = torch::ones_like(w);
  EXPECT_THROW(plain_m.step(), UserError);
}

std::vector<double> random_rule_trajectory(const char* rule, uint64_t seed) {
  torch::Tensor w = parameter(std::vector<double>(50, 1.0));
  auto opt = make_rule_optimizer(rule, {w}, RuleOptions(0.1).seed(seed));
  run_steps(opt, w, 3, 9);
  return values(w);
}

TEST(RuleOptimizer, RandomRulesAreReproducibleForASeed) {
  for (const char* rule : {"g+noise", "drop(g, 0.5)", "anoise*g"}) {
    SCOPED_TRACE(rule);
    EXPECT_EQ(random_rule_trajectory(rule, 1), random_rule_trajectory(rule, 1));
    EXPECT_NE(random_rule_trajectory(rule, 1), random_rule_trajectory(rule, 2));
  }
}

TEST(RuleOptimizer, RandomRulesDoNotTouchTheGlobalGenerator) {
  torch::manual_seed(123);
  torch::Tensor expected = torch::randn({5});
  torch::manual_seed(123);
  random_rule_trajectory("g+noise", 7);
  EXPECT_TRUE(torch::equal(torch::randn({5}), expected));
}

TEST(RuleOptimizer, DropZeroesAboutHalfOfTheUpdates) {
  torch::Tensor w = parameter(std::vector<double>(4000, 0.0));
  auto opt = make_rule_optimizer("drop(g, 0.5)", {w}, RuleOptions(1.0).seed(3));
  w.mutable_grad() = torch::ones_like(w);
  opt.step();
  const double moved = (w.detach() != 0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(moved, 0.5, 0.05);
}

TEST(RuleOptimizerErrors, DecayWithoutTotalStepsIsAUserError) {
  torch::Tensor w = parameter({1.0});
  try {
    make_rule_optimizer("exp(ld*sign(g)*sign(m))*g", {w}, RuleOptions(0.1));
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("uses a decay (ld/cd/rd), so total_steps (T) must be set > 0"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(make_rule_optimizer("cd*g", {w}, RuleOptions(0.1)), UserError);
  EXPECT_THROW(make_rule_optimizer("rd(2)*g", {w}, RuleOptions(0.1).total_steps(-3)), UserError);
  EXPECT_NO_THROW(make_rule_optimizer("rd(2)*g", {w}, RuleOptions(0.1).total_steps(3)));
  // A rule without decays needs no T.
  EXPECT_NO_THROW(make_rule_optimizer("g", {w}, RuleOptions(0.1)));
}

// abs, max and min by hand (issue 37: checked only between nos's own two paths, a max/min swap in both would pass):
// one step at lr 1 from w = 0 leaves w = −direction, on the fused kernel and on the reference path, in float64.
TEST(RuleOptimizer, AbsMaxAndMinMatchHandValues) {
  const std::vector<double> g = {-2.0, -0.3, 0.3, 2.0};
  const std::vector<std::pair<std::string, std::vector<double>>> cases = {
      {"abs(g)", {2.0, 0.3, 0.3, 2.0}},
      {"max(g, 1)", {1.0, 1.0, 1.0, 2.0}},
      {"min(g, 1)", {-2.0, -0.3, 0.3, 1.0}},
      {"max(g, -g)", {2.0, 0.3, 0.3, 2.0}},
      {"min(g, -g)", {-2.0, -0.3, -0.3, -2.0}},
  };
  for (const bool fused : {true, false}) {
    for (const auto& [rule, direction] : cases) {
      torch::Tensor w = torch::zeros({4}, torch::kFloat64).requires_grad_(true);
      RuleOptimizer optimizer({w}, compile_rule(rule), RuleOptions(1.0).fused(fused));
      w.mutable_grad() = torch::tensor(g, torch::kFloat64);
      optimizer.step();
      for (size_t i = 0; i < g.size(); ++i) {
        EXPECT_EQ(w[static_cast<int64_t>(i)].item<double>(), -direction[i])
            << rule << (fused ? " (fused)" : " (reference)") << " at g = " << g[i];
      }
    }
  }
}

// Decoupled weight decay shrinks by the lr in effect at each step (README: w ← w − lr_t·λ·w, lr_t the scheduled lr,
// which a schedule sets in the group's options before the step), before the rule's own step; coupled decay adds
// λ·w to g instead. Rule 0·g: the decay alone moves w.
TEST(RuleOptimizer, DecoupledWeightDecayUsesTheLrOfEachStep) {
  for (const bool fused : {true, false}) {
    torch::Tensor w = torch::ones({2}, torch::kFloat64).requires_grad_(true);
    RuleOptimizer optimizer({w}, compile_rule("sign(g)*0.5"), RuleOptions(0.5).decoupled_weight_decay(0.1).fused(fused));
    w.mutable_grad() = torch::zeros({2}, torch::kFloat64);
    optimizer.step();  // lr 0.5: w = 1 − 0.5·0.1·1 (sign(0) = 0: no step of the rule)
    EXPECT_DOUBLE_EQ(w[0].item<double>(), 0.95) << fused;
    static_cast<RuleOptions&>(optimizer.param_groups()[0].options()).lr(0.25);  // what a schedule does
    optimizer.step();  // lr 0.25: w = 0.95·(1 − 0.25·0.1)
    EXPECT_DOUBLE_EQ(w[0].item<double>(), 0.95 * (1 - 0.025)) << fused;
    // With a gradient: the shrink comes first, then the rule's step at the same lr: w − lr·λ·w − lr·0.5·sign(g).
    w.mutable_grad() = torch::full({2}, 3.0, torch::kFloat64);
    const double before = w[0].item<double>();
    optimizer.step();
    EXPECT_DOUBLE_EQ(w[0].item<double>(), before - 0.25 * 0.1 * before - 0.25 * 0.5) << fused;
  }
}

TEST(RuleOptimizerErrors, DecayCheckCoversEveryGroup) {
  torch::Tensor a = parameter({1.0}), b = parameter({1.0});
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{a});
  groups.emplace_back(std::vector<torch::Tensor>{b}, std::make_unique<RuleOptions>(0.1));  // T left at 0
  try {
    RuleOptimizer(std::move(groups), compile_rule("ld*g"), RuleOptions(0.1).total_steps(10));
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("parameter group 1"), std::string::npos) << e.what();
  }
}

TEST(RuleOptimizerErrors, NegativeLearningRateOrWeightDecayIsAUserError) {
  torch::Tensor w = parameter({1.0});
  try {
    make_rule_optimizer("g", {w}, RuleOptions(-0.1));
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("learning rate (lr) must be a finite number >= 0, got -0.1"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(make_rule_optimizer("g", {w}, RuleOptions(0.1).weight_decay(-1)), UserError);
  EXPECT_THROW(make_rule_optimizer("g", {w}, RuleOptions(std::nan(""))), UserError);
  EXPECT_NO_THROW(make_rule_optimizer("g", {w}, RuleOptions(0.0)));
}

TEST(RuleOptimizerCuda, MatchesCpuAndIsReproducible) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(1);
  torch::Tensor start = torch::randn({8, 8}, torch::kFloat64);
  torch::Tensor grad = torch::randn({8, 8}, torch::kFloat64);
  auto run = [&](const char* rule, torch::Device device, torch::Dtype dtype, uint64_t seed) {
    torch::Tensor w = start.to(device, dtype).clone().requires_grad_(true);
    auto opt = make_rule_optimizer(rule, {w}, RuleOptions(0.01).seed(seed).total_steps(10));
    for (int i = 0; i < 5; ++i) {
      w.mutable_grad() = grad.to(device, dtype).clone();
      opt.step();
    }
    EXPECT_EQ(w.device().type(), device.type());
    return w.detach().cpu().to(torch::kFloat64);
  };
  for (torch::Dtype dtype : {torch::kFloat32, torch::kFloat64}) {
    const double rtol = dtype == torch::kFloat32 ? 1e-5 : 1e-12;
    for (const char* rule : {"adam", "exp(cd*sign(g)*sign(m))*g", "g/sqrt(v(0.99))", "(1+ld*sign(g)*sign(y))*g3"}) {
      EXPECT_LE(testing::max_relative_error(run(rule, torch::kCUDA, dtype, 0), run(rule, torch::kCPU, dtype, 0), 1e-3),
                rtol)
          << rule << " " << dtype;
    }
    for (const char* rule : {"g+noise", "drop(g, 0.5)", "anoise*m"}) {
      EXPECT_TRUE(torch::equal(run(rule, torch::kCUDA, dtype, 4), run(rule, torch::kCUDA, dtype, 4))) << rule;
      EXPECT_FALSE(torch::equal(run(rule, torch::kCUDA, dtype, 4), run(rule, torch::kCUDA, dtype, 5))) << rule;
    }
  }
}

// The fused CUDA path (the rule's generated kernel, compiled with NVRTC) against the reference chain of torch ops on
// the same GPU, with the same random draws: plain, weight-decayed, channels-last and random rules.
TEST(RuleOptimizerCuda, FusedKernelAgreesWithTheReferencePath) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  if (!dsl::cuda_fused_built()) GTEST_SKIP() << "this CUDA build has no fused CUDA path (ATenNVRTC.h or nvrtc.h missing)";
  for (torch::Dtype dtype : {torch::kFloat32, torch::kFloat64}) {
    for (const char* rule : {"adam", "exp(sign(g)*sign(m))*g", "(1+ld*sign(g)*sign(m))*g", "clip(g/(sqrt(v)+1),0.1)",
                             "(v)^(-0.5)*m + 2^(g)", "log(g)*sqrt(w)-y(0.5)*m", "drop(m, 0.3) + noise + anoise*rd"}) {
      SCOPED_TRACE(std::string(rule) + " " + c10::toString(dtype));
      auto run = [&](bool fused) {
        torch::manual_seed(3);
        torch::Tensor a = torch::randn({4, 3, 5, 7}, torch::TensorOptions(torch::kCUDA).dtype(dtype))
                              .contiguous(torch::MemoryFormat::ChannelsLast)
                              .requires_grad_(true);
        torch::Tensor b = torch::randn({100003}, torch::TensorOptions(torch::kCUDA).dtype(dtype)).requires_grad_(true);
        RuleOptimizer opt({a, b}, compile_rule(rule), RuleOptions(0.01).weight_decay(1e-3).total_steps(50).seed(9).fused(fused));
        for (int i = 0; i < 10; ++i) {
          a.mutable_grad() = torch::randn_like(a);
          b.mutable_grad() = torch::randn_like(b);
          opt.step();
        }
        EXPECT_EQ(dsl::cuda_fused_unsupported_reason(b, b, {}), "");  // the kernel compiled
        return std::make_pair(a.detach().cpu(), b.detach().cpu());
      };
      const auto fused = run(true), reference = run(false);
      const double tol = dtype == torch::kFloat32 ? 1e-5 : 1e-12;
      EXPECT_LT(testing::max_relative_error(fused.first, reference.first, 1e-3), tol);
      EXPECT_LT(testing::max_relative_error(fused.second, reference.second, 1e-3), tol);
    }
  }
}

TEST(RuleOptimizerCuda, SaveLoadContinuesTheRandomStream) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::Tensor w = torch::ones({64}, torch::TensorOptions(torch::kCUDA).dtype(torch::kFloat32)).requires_grad_(true);
  auto opt = make_rule_optimizer("drop(m, 0.3)+noise", {w}, RuleOptions(0.1).seed(8));
  auto steps = [](RuleOptimizer& o, const torch::Tensor& p, int n) {
    for (int i = 0; i < n; ++i) {
      p.mutable_grad() = torch::full_like(p, 0.5);
      o.step();
    }
  };
  steps(opt, w, 3);
  std::stringstream saved;
  torch::save(opt, saved);
  torch::Tensor w_copy = w.detach().clone().requires_grad_(true);
  auto restored = make_rule_optimizer("drop(m, 0.3)+noise", {w_copy}, RuleOptions(0.1).seed(8));
  torch::load(restored, saved);
  steps(opt, w, 3);
  steps(restored, w_copy, 3);
  EXPECT_TRUE(torch::equal(w.detach(), w_copy.detach()));
  EXPECT_TRUE(state_of(restored, w_copy).averages()[0].is_cuda());
}

}  // namespace
}  // namespace nos::optimizers
