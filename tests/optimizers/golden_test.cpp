// Golden tests: PowerSign/AddSign against TensorFlow's contrib reference, and the sign decays against TF's values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"

namespace nos::optimizers {
namespace {

using testing::compile_rule;
using testing::max_relative_error;

// One configuration of TensorFlow's tests:
// tensorflow/contrib/opt/python/training/powersign_test.py and addsign_test.py (TF 1.x), PowerSignTest.testDense
// and AddSignTest.testDense.
struct SignConfig {
  std::string label;
  std::string rule;      // the same optimizer in the DSL
  bool power;            // PowerSign (base^(decay·s)) or AddSign (alpha + decay·s)
  double lr;
  double base_or_alpha;  // PowerSign's base, AddSign's alpha
  double beta;
  int64_t decay_steps;   // 0: no sign decay
};

// TF's numpy reference, powersign_update_numpy / addsign_update_numpy, for one variable whose elements all see
// gradient g: m_t = β m + (1−β) g first, then s = sign(g)·sign(m_t); the k-th update uses the linear decay at
// step k−1, decay(step) = (T − min(step, T))/T; w ← w − lr·multiplier·g.
void tf_reference_step(const SignConfig& c, std::vector<double>& w, double& m, double g, int64_t k) {
  m = c.beta * m + (1 - c.beta) * g;
  auto sign = [](double x) { return static_cast<double>((x > 0) - (x < 0)); };
  const double s = sign(g) * sign(m);
  double decay = 1.0;
  if (c.decay_steps > 0) {
    const int64_t step = std::min<int64_t>(k - 1, c.decay_steps);
    decay = static_cast<double>(c.decay_steps - step) / static_cast<double>(c.decay_steps);
  }
  const double multiplier = c.power ? std::pow(c.base_or_alpha, decay * s) : c.base_or_alpha + decay * s;
  for (double& x : w) x = x - c.lr * multiplier * g;
}

const std::vector<SignConfig>& sign_configs() {
  static const std::vector<SignConfig> configs = {
      {"PowerSign lr .1, base e, beta .9", "exp(sign(g)*sign(m))*g", true, 0.1, M_E, 0.9, 0},
      {"PowerSign lr .1, base 10, beta .8", "10^(sign(g)*sign(m(0.8)))*g", true, 0.1, 10.0, 0.8, 0},
      {"PowerSign lr .1, base e, beta .9, linear decay 10", "exp(ld*sign(g)*sign(m))*g", true, 0.1, M_E, 0.9, 10},
      {"AddSign lr .1, alpha 1, beta .9", "(1+sign(g)*sign(m))*g", false, 0.1, 1.0, 0.9, 0},
      {"AddSign lr .01, alpha .1, beta .8", "(0.1+sign(g)*sign(m(0.8)))*g", false, 0.01, 0.1, 0.8, 0},
      {"AddSign lr .1, alpha 1, beta .9, linear decay 10", "(1+ld*sign(g)*sign(m))*g", false, 0.1, 1.0, 0.9, 10},
  };
  return configs;
}

// Runs TF's 7 steps (4 with +grad, 3 with −grad) on var0 = [1, 2] (grad 0.1) and var1 = [3, 4] (grad 0.01),
// checking every step against the reference; returns var0 after the last step.
std::vector<double> run_tf_sequence(const SignConfig& c, torch::Dtype dtype, double rtol) {
  SCOPED_TRACE(c.label + " [" + std::string(c10::toString(dtype)) + "]");
  std::vector<double> ref0 = {1.0, 2.0}, ref1 = {3.0, 4.0};
  const double grad0 = 0.1, grad1 = 0.01;
  double m0 = 0, m1 = 0;
  torch::Tensor var0 = testing::parameter(ref0, dtype), var1 = testing::parameter(ref1, dtype);
  RuleOptimizer opt({var0, var1}, compile_rule(c.rule), RuleOptions(c.lr).total_steps(c.decay_steps));
  for (int64_t k = 1; k <= 7; ++k) {
    const double sign = k < 5 ? 1.0 : -1.0;
    testing::set_grad(var0, {sign * grad0, sign * grad0});
    testing::set_grad(var1, {sign * grad1, sign * grad1});
    opt.step();
    tf_reference_step(c, ref0, m0, sign * grad0, k);
    tf_reference_step(c, ref1, m1, sign * grad1, k);
    EXPECT_LE(max_relative_error(var0, torch::tensor(ref0, torch::kFloat64)), rtol) << "var0 after step " << k;
    EXPECT_LE(max_relative_error(var1, torch::tensor(ref1, torch::kFloat64)), rtol) << "var1 after step " << k;
  }
  auto out = var0.detach().to(torch::kFloat64);
  return {out[0].item<double>(), out[1].item<double>()};
}

TEST(TensorFlowGolden, EveryStepOfEveryConfigurationInFloat64) {
  for (const SignConfig& c : sign_configs()) run_tf_sequence(c, torch::kFloat64, 1e-12);
}

TEST(TensorFlowGolden, EveryStepOfEveryConfigurationInFloat32) {
  for (const SignConfig& c : sign_configs()) run_tf_sequence(c, torch::kFloat32, 1e-6);
}

TEST(TensorFlowGolden, TypedAnchorsAfterSevenSteps) {
  // Values of TF's numpy reference after the 7 steps (computed with powersign_update_numpy/addsign_update_numpy).
  std::vector<double> powersign = run_tf_sequence(sign_configs()[0], torch::kFloat64, 1e-12);
  EXPECT_NEAR(powersign[0], 0.9258091339696574, 1e-14);
  EXPECT_NEAR(powersign[1], 1.925809133969658, 1e-14);
  std::vector<double> addsign = run_tf_sequence(sign_configs()[3], torch::kFloat64, 1e-12);
  EXPECT_NEAR(addsign[0], 0.94, 1e-14);
  EXPECT_NEAR(addsign[1], 1.94, 1e-14);
}

TEST(TensorFlowGolden, NamedPowerSignAndAddSignMatchTheirRules) {
  // The named rows run the first configurations (lr 0.1 is TF's default for both).
  for (const auto& [name, config] : {std::pair{"powersign", 0}, std::pair{"addsign", 3}}) {
    SCOPED_TRACE(name);
    ResolvedRule rule = resolve_rule(name);
    EXPECT_EQ(rule.defaults.lr(), 0.1);
    torch::Tensor var0 = testing::parameter({1.0, 2.0});
    auto opt = make_optimizer(rule, {var0}, rule.defaults);
    for (int k = 1; k <= 7; ++k) {
      testing::set_grad(var0, {k < 5 ? 0.1 : -0.1, k < 5 ? 0.1 : -0.1});
      opt->step();
    }
    std::vector<double> expected = run_tf_sequence(sign_configs()[config], torch::kFloat64, 1e-12);
    EXPECT_LE(max_relative_error(var0, torch::tensor(expected, torch::kFloat64)), 1e-12);
  }
}

// tensorflow/contrib/opt/python/training/sign_decay_test.py: decay_steps 1000, steps 0, 100, ..., 900.
TEST(SignDecays, LinearAndCosineMatchTensorFlowValues) {
  const std::vector<double> linear = {1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1};
  const std::vector<double> cosine = {1.0,          0.9755282581, 0.9045084972, 0.7938926261, 0.6545084972,
                                      0.5,          0.3454915028, 0.2061073739, 0.0954915028, 0.0244717419};
  for (int i = 0; i < 10; ++i) {
    const int64_t t = 100 * i;
    EXPECT_NEAR(dsl::linear_decay(t, 1000), linear[i], 1e-10) << "t = " << t;
    EXPECT_NEAR(dsl::cosine_decay(t, 1000, 0.5), cosine[i], 1e-10) << "t = " << t;
  }
}

TEST(SignDecays, ClippedAtTAndRestartFollowsTensorFlowFormula) {
  EXPECT_EQ(dsl::linear_decay(1000, 1000), 0.0);
  EXPECT_EQ(dsl::linear_decay(5000, 1000), 0.0);
  EXPECT_NEAR(dsl::cosine_decay(5000, 1000, 0.5), 0.0, 1e-15);
  // TF's get_restart_decay_fn: 0.5·(1 + cos(π·((n·min(t,T)) mod T)/T)).
  for (double n : {1.0, 2.0, 3.5}) {
    for (int64_t t = 0; t <= 1000; t += 50) {
      const double fraction = std::fmod(n * static_cast<double>(t), 1000.0) / 1000.0;
      EXPECT_NEAR(dsl::restart_decay(t, 1000, n), 0.5 * (1 + std::cos(M_PI * fraction)), 1e-12)
          << "n = " << n << ", t = " << t;
    }
  }
}

}  // namespace
}  // namespace nos::optimizers
