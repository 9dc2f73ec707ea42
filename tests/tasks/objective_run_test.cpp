// Tests of run_objective: exact gradient-descent iterates, convergence, divergence as a result, the step callback.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "optimizers/optimizers.h"
#include "tasks/objective_run.h"

namespace nos::tasks {
namespace {

ObjectiveRunConfig config(int64_t steps, double lr, torch::Dtype dtype = torch::kFloat64) {
  ObjectiveRunConfig c;
  c.steps = steps;
  c.lr = lr;
  c.dtype = dtype;
  c.seed = 0;
  return c;
}

// Plain gradient descent on the sphere: x_k = (1 − 2·lr)^k x_0, so every iterate is known exactly.
TEST(RunObjective, GradientDescentOnSphereIsExact) {
  optimizers::ResolvedRule rule = optimizers::resolve_rule("g");
  Objective sphere = make_objective("sphere", 0);
  ObjectiveResult r = run_objective(rule, sphere, config(10, 0.1));
  EXPECT_EQ(r.status, tasks::Status::kOk);
  EXPECT_EQ(r.steps_done, 10);
  EXPECT_DOUBLE_EQ(r.initial_loss, 50.0);
  const double factor = std::pow(0.8, 10);
  ASSERT_EQ(r.final_point.size(), 2u);
  EXPECT_NEAR(r.final_point[0], -5.0 * factor, 1e-12);
  EXPECT_NEAR(r.final_point[1], 5.0 * factor, 1e-12);
  EXPECT_NEAR(r.final_loss, 50.0 * factor * factor, 1e-12);
  EXPECT_NEAR(r.distance_to_optimum, std::sqrt(50.0) * factor, 1e-12);
  EXPECT_GE(r.seconds, 0.0);
}

TEST(RunObjective, CallbackSeesEveryStepFromTheStart) {
  optimizers::ResolvedRule rule = optimizers::resolve_rule("g");
  Objective sphere = make_objective("sphere", 0);
  std::vector<int64_t> steps;
  std::vector<double> losses;
  std::vector<double> first_coordinate;
  auto record = [&](int64_t step, double loss, const torch::Tensor& x) {
    steps.push_back(step);
    losses.push_back(loss);
    first_coordinate.push_back(x[0].item<double>());
  };
  ObjectiveResult r = run_objective(rule, sphere, config(25, 0.1), record);
  ASSERT_EQ(steps.size(), 26u);
  for (size_t i = 0; i < steps.size(); ++i) EXPECT_EQ(steps[i], static_cast<int64_t>(i));
  EXPECT_EQ(losses.front(), r.initial_loss);
  EXPECT_EQ(losses.back(), r.final_loss);
  EXPECT_EQ(first_coordinate.front(), -5.0);
  EXPECT_EQ(first_coordinate.back(), r.final_point[0]);
}

// Gradient descent with lr 1 on the quadratic (eigenvalues in [0.01, 1]) contracts every direction by at least
// 0.99 per step: after 1,500 steps the loss is below 0.99^3000 ≈ 1e-13 of its start.
TEST(RunObjective, GradientDescentConvergesOnQuadraticInBothDtypes) {
  optimizers::ResolvedRule rule = optimizers::resolve_rule("g");
  Objective quadratic = make_objective("quadratic", 0);
  ObjectiveResult r64 = run_objective(rule, quadratic, config(1500, 1.0, torch::kFloat64));
  EXPECT_EQ(r64.status, tasks::Status::kOk);
  EXPECT_LT(r64.final_loss, 1e-12 * r64.initial_loss);
  EXPECT_LT(r64.distance_to_optimum, 1e-4);
  ObjectiveResult r32 = run_objective(rule, quadratic, config(1500, 1.0, torch::kFloat32));
  EXPECT_EQ(r32.status, tasks::Status::kOk);
  EXPECT_LT(r32.final_loss, 1e-6 * r32.initial_loss);
  EXPECT_NEAR(r32.initial_loss, r64.initial_loss, 1e-5 * r64.initial_loss);
}

TEST(RunObjective, SameConfigSameResult) {
  optimizers::ResolvedRule rule = optimizers::resolve_rule("g");
  Objective rosenbrock = make_objective("rosenbrock", 0);
  ObjectiveResult a = run_objective(rule, rosenbrock, config(200, 1e-3));
  ObjectiveResult b = run_objective(rule, rosenbrock, config(200, 1e-3));
  EXPECT_EQ(a.final_point, b.final_point);
  EXPECT_EQ(a.final_loss, b.final_loss);
  EXPECT_LT(a.final_loss, a.initial_loss);
}

// The optimizer gets total_steps = steps: a decay rule, which needs T, runs; and its seed drives the rule's noise.
TEST(RunObjective, PassesStepsAndSeedToTheOptimizer) {
  Objective rosenbrock = make_objective("rosenbrock", 0);
  ObjectiveResult decayed = run_objective(optimizers::resolve_rule("powersign-cd"), rosenbrock, config(100, 1e-3));
  EXPECT_EQ(decayed.status, tasks::Status::kOk);
  EXPECT_EQ(decayed.steps_done, 100);

  optimizers::ResolvedRule noisy = optimizers::resolve_rule("g + noise");
  ObjectiveRunConfig c = config(20, 1e-3);
  ObjectiveResult a = run_objective(noisy, rosenbrock, c);
  ObjectiveResult b = run_objective(noisy, rosenbrock, c);
  c.seed = 1;
  ObjectiveResult other = run_objective(noisy, rosenbrock, c);
  EXPECT_EQ(a.final_point, b.final_point);
  EXPECT_NE(a.final_point, other.final_point);
}

TEST(RunObjective, BlowUpIsReportedAsDivergedWithoutThrowing) {
  Objective rosenbrock = make_objective("rosenbrock", 0);
  for (const char* text : {"g", "exp(-g)", "exp(g2)"}) {
    SCOPED_TRACE(text);
    optimizers::ResolvedRule rule = optimizers::resolve_rule(text);
    int64_t calls = 0;
    ObjectiveResult r;
    ASSERT_NO_THROW(r = run_objective(rule, rosenbrock, config(100, 1e6),
                                      [&](int64_t, double, const torch::Tensor&) { ++calls; }));
    EXPECT_EQ(r.status, tasks::Status::kDiverged);
    EXPECT_LT(r.steps_done, 100);
    EXPECT_EQ(calls, r.steps_done + 1);
    EXPECT_DOUBLE_EQ(r.initial_loss, 24.2);
    EXPECT_FALSE(std::isfinite(r.final_loss) && r.final_loss <= kDivergenceFactor * r.initial_loss);
  }
}

TEST(RunObjective, DivergesInFloat32Too) {
  optimizers::ResolvedRule rule = optimizers::resolve_rule("g");
  ObjectiveResult r = run_objective(rule, make_objective("booth", 0), config(50, 1e3, torch::kFloat32));
  EXPECT_EQ(r.status, tasks::Status::kDiverged);
}

}  // namespace
}  // namespace nos::tasks
