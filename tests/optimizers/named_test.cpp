// Tests of the named-rule table and of resolving a name or DSL text to a runnable optimizer.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <utility>
#include <vector>
#include <string>

#include "test_util.h"

namespace nos::optimizers {
namespace {

TEST(NamedRules, TableHoldsThePaperAndPyTorchOptimizers) {
  std::set<std::string> names;
  for (const NamedRule& r : named_rules()) {
    EXPECT_TRUE(names.insert(r.name).second) << "duplicate " << r.name;
    EXPECT_FALSE(r.description.empty()) << r.name;
  }
  for (const char* name : {"sgd", "momentum", "adam", "adamw", "nesterov", "signsgd", "signum", "rmsprop",
                           "powersign", "powersign-ld", "powersign-cd",
                           "powersign-rd", "addsign", "addsign-ld", "addsign-cd", "addsign-rd"}) {
    EXPECT_EQ(names.count(name), 1u) << name;
  }
}

TEST(NamedRules, TextsAndDefaults) {
  EXPECT_EQ(find_named_rule("sgd")->text, "g");
  EXPECT_EQ(find_named_rule("sgd")->defaults.lr(), 0.01);
  EXPECT_EQ(find_named_rule("momentum")->text, "10*m");
  EXPECT_FALSE(find_named_rule("momentum")->defaults.bias_correction());
  EXPECT_EQ(find_named_rule("adam")->defaults.lr(), 1e-3);
  EXPECT_TRUE(find_named_rule("adam")->defaults.bias_correction());
  EXPECT_EQ(find_named_rule("rmsprop")->text, "g/sqrt(v(0.99))");
  EXPECT_FALSE(find_named_rule("rmsprop")->defaults.bias_correction());
  EXPECT_EQ(find_named_rule("powersign")->text, "exp(sign(g)*sign(m))*g");
  EXPECT_EQ(find_named_rule("powersign-cd")->text, "exp(cd*sign(g)*sign(m))*g");
  EXPECT_EQ(find_named_rule("addsign")->text, "(1+sign(g)*sign(m))*g");
  EXPECT_EQ(find_named_rule("addsign-rd")->text, "(1+rd*sign(g)*sign(m))*g");
  EXPECT_EQ(find_named_rule("powersign")->defaults.lr(), 0.1);
  EXPECT_EQ(find_named_rule("addsign-ld")->defaults.lr(), 0.1);
  EXPECT_EQ(find_named_rule("adamw")->text, "adam");
  EXPECT_EQ(find_named_rule("adamw")->defaults.decoupled_weight_decay(), 0.01);
  EXPECT_EQ(find_named_rule("adamw")->defaults.weight_decay(), 0.0);
  EXPECT_EQ(find_named_rule("adam")->defaults.decoupled_weight_decay(), 0.0);
  EXPECT_EQ(find_named_rule("nesterov")->text, "g + 9*m");
  EXPECT_FALSE(find_named_rule("nesterov")->defaults.bias_correction());
  EXPECT_EQ(find_named_rule("signsgd")->text, "sign(g)");
  EXPECT_EQ(find_named_rule("signum")->text, "sign(m)");
  EXPECT_EQ(find_named_rule("nope"), nullptr);
  EXPECT_EQ(find_named_rule("Adam"), nullptr);
}

// signSGD and Signum (Bernstein et al. 2018, Algorithm 1: w ← w − lr·sign(g); Signum: m ← βm + (1−β)g,
// w ← w − lr·sign(m), β 0.9) by hand for three steps: gradients +1, −0.05, −0.05 on one weight (w = 1, lr 0.1).
// signSGD: 0.9, 1.0, 1.1. Signum: m = 0.1, 0.085, 0.0715: all positive, so 0.9, 0.8, 0.7 (momentum keeps the
// direction that signSGD reverses).
TEST(NamedRules, SignSgdAndSignumByHand) {
  const std::vector<double> grads = {1.0, -0.05, -0.05};
  for (const auto& [name, expected] : std::vector<std::pair<std::string, std::vector<double>>>{
           {"signsgd", {0.9, 1.0, 1.1}}, {"signum", {0.9, 0.8, 0.7}}}) {
    ResolvedRule rule = resolve_rule(name);
    torch::Tensor w = testing::parameter({1.0}, torch::kFloat64);
    auto opt = make_optimizer(rule, {w}, RuleOptions(rule.defaults).lr(0.1));
    for (size_t k = 0; k < grads.size(); ++k) {
      testing::set_grad(w, {grads[k]});
      opt->step();
      EXPECT_NEAR(w.item<double>(), expected[k], 1e-12) << name << " step " << k + 1;
    }
  }
}

// Decoupled weight decay shrinks w by lr·λ·w before the rule's step and never enters the rule's averages: with a
// zero gradient, sgd with λ only decays; adamw's first step is Adam's ±lr plus the shrink.
TEST(RuleOptimizer, DecoupledWeightDecayShrinksBeforeTheStep) {
  torch::Tensor w = testing::parameter({2.0}, torch::kFloat64);
  auto sgd = make_optimizer(resolve_rule("sgd"), {w}, RuleOptions(0.1).decoupled_weight_decay(0.5));
  testing::set_grad(w, {0.0});
  sgd->step();
  EXPECT_DOUBLE_EQ(w.item<double>(), 2.0 * (1 - 0.1 * 0.5));
  torch::Tensor v = testing::parameter({2.0}, torch::kFloat64);
  ResolvedRule adamw = resolve_rule("adamw");
  auto opt = make_optimizer(adamw, {v}, RuleOptions(adamw.defaults).lr(0.1));
  testing::set_grad(v, {3.0});
  opt->step();
  // Adam's first step is lr·g/(|g| + ε) ≈ lr.
  EXPECT_NEAR(v.item<double>(), 2.0 * (1 - 0.1 * 0.01) - 0.1, 1e-8);
  EXPECT_THROW(make_optimizer(adamw, {v}, RuleOptions(0.1).decoupled_weight_decay(-1)), UserError);
  // Saved and loaded with the options (older files without it read 0).
  RuleOptions a = RuleOptions(0.1).decoupled_weight_decay(0.25), b;
  torch::serialize::OutputArchive out;
  a.serialize(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  torch::serialize::InputArchive in;
  std::istringstream back(bytes.str());
  in.load_from(back);
  b.serialize(in);
  EXPECT_EQ(b.decoupled_weight_decay(), 0.25);
  EXPECT_TRUE(a == b);
}

TEST(NamedRules, EveryNamedRuleResolvesAndSteps) {
  for (const NamedRule& named : named_rules()) {
    SCOPED_TRACE(named.name);
    ResolvedRule rule = resolve_rule(named.name);
    EXPECT_EQ(rule.name, named.name);
    EXPECT_EQ(rule.text, named.text);
    ASSERT_NE(rule.program(), nullptr);
    EXPECT_TRUE(rule.defaults == named.defaults);
    const bool decays = rule.program()->uses_decay();
    EXPECT_EQ(decays, named.name.find('-') != std::string::npos);

    torch::Tensor w = testing::parameter({1.0, -2.0, 0.5});
    RuleOptions options = rule.defaults;
    if (decays) options.total_steps(10);
    auto opt = make_optimizer(rule, {w}, options);
    EXPECT_EQ(&opt->program(), rule.program().get());
    for (int i = 0; i < 3; ++i) {
      testing::set_grad(w, {0.3, -0.2, 0.1});
      opt->step();
    }
    EXPECT_TRUE(torch::isfinite(w).all().item<bool>());
    EXPECT_FALSE(torch::equal(w.detach(), torch::tensor({1.0, -2.0, 0.5}, torch::kFloat64)));
    // Each step moves against the gradient for these rules.
    EXPECT_LT(w[0].item<double>(), 1.0);
    EXPECT_GT(w[1].item<double>(), -2.0);
  }
}

TEST(NamedRules, DecayedRowsNeedTotalSteps) {
  ResolvedRule rule = resolve_rule("powersign-cd");
  torch::Tensor w = testing::parameter({1.0});
  EXPECT_THROW(make_optimizer(rule, {w}, rule.defaults), UserError);
}

TEST(ResolveRule, DslTextGetsDefaultOptions) {
  ResolvedRule rule = resolve_rule("sign(m)*sqrt(g)");
  EXPECT_TRUE(rule.name.empty());
  EXPECT_EQ(rule.text, "sign(m)*sqrt(g)");
  ASSERT_NE(rule.program(), nullptr);
  EXPECT_TRUE(rule.defaults == RuleOptions());
}

TEST(ResolveRule, BadTextRaisesTheParsersRuleError) {
  try {
    resolve_rule("exp(g)*expp(m)");
    FAIL() << "expected RuleError";
  } catch (const dsl::RuleError& e) {
    EXPECT_FALSE(e.diagnostics().empty());
    EXPECT_NE(std::string(e.what()).find("expp"), std::string::npos) << e.what();
  }
  EXPECT_THROW(resolve_rule("not-a-rule("), UserError);
}

TEST(ResolveRule, NamesWinOverOperandsOfTheSameSpelling) {
  // "rmsprop" is also a DSL operand (v with β 0.999, bias-corrected); the name means PyTorch's RMSprop.
  ResolvedRule rule = resolve_rule("rmsprop");
  EXPECT_EQ(rule.name, "rmsprop");
  EXPECT_FALSE(rule.defaults.bias_correction());
  ASSERT_EQ(rule.program()->averages().size(), 1u);
  EXPECT_EQ(rule.program()->averages()[0].beta, 0.99);
}

}  // namespace
}  // namespace nos::optimizers
