// Convergence tests on analytic functions (Rosenbrock, an ill-conditioned quadratic) in float32 and float64.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "test_util.h"

namespace nos::optimizers {
namespace {

using Objective = std::function<torch::Tensor(const torch::Tensor&)>;

// Rosenbrock's banana, f(x, y) = (1 − x)² + 100·(y − x²)², minimum 0 at (1, 1).
torch::Tensor rosenbrock(const torch::Tensor& w) {
  torch::Tensor x = w[0], y = w[1];
  return (1 - x).pow(2) + 100 * (y - x.pow(2)).pow(2);
}

// f(w) = ½ Σ λ_i w_i², with λ from 1 to 1000 (condition number 1000).
torch::Tensor ill_conditioned_quadratic(const torch::Tensor& w) {
  torch::Tensor lambda = torch::logspace(0, 3, w.numel(), 10.0, w.options().requires_grad(false));
  return 0.5 * (lambda * w.pow(2)).sum();
}

// Runs `steps` steps of `rule` from `start` and returns f(start)/f(end).
double reduction(const std::string& rule, const Objective& f, const torch::Tensor& start, torch::Dtype dtype, double lr,
                 int steps) {
  torch::Tensor w = start.to(dtype).clone().requires_grad_(true);
  ResolvedRule resolved = resolve_rule(rule);
  auto opt = make_optimizer(resolved, {w}, resolved.defaults.lr(lr));
  const double initial = f(w).item<double>();
  for (int i = 0; i < steps; ++i) {
    opt->zero_grad();
    f(w).backward();
    opt->step();
  }
  const double final_value = f(w).item<double>();
  EXPECT_TRUE(std::isfinite(final_value));
  return initial / final_value;
}

struct Case {
  std::string rule;
  double lr;
  int steps;
};

class Rosenbrock : public ::testing::TestWithParam<torch::Dtype> {};

TEST_P(Rosenbrock, ReducedAHundredfold) {
  // f(start) = 24.2. The curvature there is about 1330, so gradient-scaled rules (PowerSign multiplies g by up to
  // e, AddSign by up to 2) are stable below lr ≈ 2/(1330·e); sign-normalised Adam takes a larger lr.
  const torch::Tensor start = torch::tensor({-1.2, 1.0}, torch::kFloat64);
  for (const Case& c : {Case{"adam", 0.02, 2000}, Case{"powersign", 3e-4, 3000}, Case{"addsign", 4e-4, 3000}}) {
    EXPECT_GE(reduction(c.rule, rosenbrock, start, GetParam(), c.lr, c.steps), 100.0) << c.rule;
  }
}

class Quadratic : public ::testing::TestWithParam<torch::Dtype> {};

TEST_P(Quadratic, IllConditionedReducedAHundredfold) {
  const torch::Tensor start = torch::ones({10}, torch::kFloat64);
  for (const Case& c : {Case{"adam", 0.01, 1000}, Case{"powersign", 5e-4, 1000}, Case{"momentum", 1e-4, 1000},
                        Case{"rmsprop", 0.01, 1000}}) {
    EXPECT_GE(reduction(c.rule, ill_conditioned_quadratic, start, GetParam(), c.lr, c.steps), 100.0) << c.rule;
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, Rosenbrock, ::testing::Values(torch::kFloat32, torch::kFloat64));
INSTANTIATE_TEST_SUITE_P(Dtypes, Quadratic, ::testing::Values(torch::kFloat32, torch::kFloat64));

}  // namespace
}  // namespace nos::optimizers
