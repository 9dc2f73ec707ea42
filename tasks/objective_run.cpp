// The optimizer loop on an analytic objective: evaluate, call back, step; stop on divergence.
#include "tasks/objective_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/error.h"

namespace nos::tasks {

namespace {

// Loss at x with x's gradient filled in (x.grad is zeroed by the caller).
double evaluate(const Objective& objective, const torch::Tensor& x) {
  torch::Tensor loss = objective.loss(x);
  loss.backward();
  return loss.item<double>();
}

}  // namespace

ObjectiveResult run_objective(const optimizers::ResolvedRule& rule, const Objective& objective,
                              const ObjectiveRunConfig& config, const StepCallback& on_step) {
  NOS_CHECK(config.steps >= 1, "run_objective needs steps >= 1, got " << config.steps);
  NOS_CHECK(std::isfinite(config.lr) && config.lr > 0, "run_objective needs a finite lr > 0, got " << config.lr);
  NOS_CHECK(config.dtype == torch::kFloat32 || config.dtype == torch::kFloat64,
            "run_objective needs float32 or float64, got " << config.dtype);
  NOS_CHECK(static_cast<int64_t>(objective.start.size()) == objective.dims &&
                static_cast<int64_t>(objective.optimum.size()) == objective.dims,
            "objective '" << objective.name << "' has start/optimum of the wrong size");
  NOS_CHECK(rule.program() != nullptr || rule.learned() != nullptr, "rule '" << rule.name << "' has no compiled program");

  const auto start_time = std::chrono::steady_clock::now();
  torch::Tensor x = torch::tensor(objective.start, torch::TensorOptions().dtype(torch::kFloat64))
                        .to(config.device, config.dtype)
                        .requires_grad_(true);

  optimizers::RuleOptions options = rule.defaults;
  options.lr(config.lr);
  options.total_steps(config.steps);
  options.seed(config.seed);
  std::unique_ptr<torch::optim::Optimizer> optimizer =
      optimizers::make_training_optimizer(rule, {{{x}, options.weight_decay()}}, options);

  ObjectiveResult result;
  result.status = Status::kOk;
  optimizer->zero_grad();
  double loss = evaluate(objective, x);
  result.initial_loss = loss;
  const double bound = kDivergenceFactor * std::max(1.0, std::abs(loss));
  auto diverged = [bound](double value) { return !std::isfinite(value) || value > bound; };
  if (on_step) on_step(0, loss, x.detach());
  if (diverged(loss)) result.status = Status::kDiverged;

  for (int64_t step = 1; step <= config.steps && result.status == Status::kOk; ++step) {
    optimizer->step();
    optimizer->zero_grad();
    loss = evaluate(objective, x);
    result.steps_done = step;
    if (on_step) on_step(step, loss, x.detach());
    if (diverged(loss)) result.status = Status::kDiverged;
  }

  result.final_loss = loss;
  torch::Tensor final_point = x.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  result.final_point.assign(final_point.data_ptr<double>(), final_point.data_ptr<double>() + objective.dims);
  double squared = 0.0;
  for (int64_t i = 0; i < objective.dims; ++i) {
    const double d = result.final_point[i] - objective.optimum[i];
    squared += d * d;
  }
  result.distance_to_optimum = std::sqrt(squared);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  return result;
}

}  // namespace nos::tasks
