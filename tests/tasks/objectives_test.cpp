// Tests of the analytic objectives: optimum values and gradients, known start values, the seeded quadratic.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/error.h"
#include "tasks/objectives.h"

namespace nos::tasks {
namespace {

torch::Tensor point(const std::vector<double>& values, torch::Dtype dtype = torch::kFloat64) {
  return torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat64)).to(dtype).requires_grad_(true);
}

double value_at(const Objective& o, const std::vector<double>& x) {
  torch::NoGradGuard no_grad;
  return o.loss(point(x)).item<double>();
}

torch::Tensor gradient_at(const Objective& o, const torch::Tensor& x) {
  torch::Tensor leaf = x.detach().clone().requires_grad_(true);
  o.loss(leaf).backward();
  return leaf.grad();
}

TEST(Objectives, NamesAreTheDocumentedSix) {
  EXPECT_EQ(objective_names(),
            (std::vector<std::string>{"rosenbrock", "quadratic", "sphere", "styblinski-tang", "beale", "booth"}));
}

TEST(Objectives, EveryObjectiveIsConsistent) {
  for (const std::string& name : objective_names()) {
    SCOPED_TRACE(name);
    Objective o = make_objective(name, 7);
    EXPECT_EQ(o.name, name);
    EXPECT_GT(o.dims, 0);
    EXPECT_EQ(static_cast<int64_t>(o.start.size()), o.dims);
    EXPECT_EQ(static_cast<int64_t>(o.optimum.size()), o.dims);
    EXPECT_FALSE(o.description.empty());
    ASSERT_TRUE(o.loss);
  }
}

TEST(Objectives, ValueAtOptimumIsOptimumValueAndGradientVanishes) {
  for (const std::string& name : objective_names()) {
    SCOPED_TRACE(name);
    Objective o = make_objective(name, 3);
    EXPECT_NEAR(value_at(o, o.optimum), o.optimum_value, 1e-12 * std::max(1.0, std::abs(o.optimum_value)));
    torch::Tensor g = gradient_at(o, point(o.optimum));
    EXPECT_LT(g.abs().max().item<double>(), 1e-9);
    // The start is not a minimum: the gradient there is not zero and the value is above the optimum.
    EXPECT_GT(value_at(o, o.start), o.optimum_value);
    EXPECT_GT(gradient_at(o, point(o.start)).abs().max().item<double>(), 1e-3);
  }
}

// Values at the start points, computed by hand from the formulas (start points are ensmallen's test problems').
TEST(Objectives, KnownValuesAtStart) {
  EXPECT_NEAR(value_at(make_objective("rosenbrock", 0), {-1.2, 1.0}), 24.2, 1e-12);
  EXPECT_NEAR(value_at(make_objective("sphere", 0), {-5.0, 5.0}), 50.0, 1e-12);
  EXPECT_NEAR(value_at(make_objective("styblinski-tang", 0), {-5.0, -5.0}), 200.0, 1e-12);
  EXPECT_NEAR(value_at(make_objective("beale", 0), {2.8, 0.35}), 0.1482685025, 1e-12);
  EXPECT_NEAR(value_at(make_objective("booth", 0), {-9.0, -9.0}), 2180.0, 1e-12);
  EXPECT_EQ(make_objective("rosenbrock", 0).start, (std::vector<double>{-1.2, 1.0}));
  EXPECT_EQ(make_objective("booth", 0).start, (std::vector<double>{-9.0, -9.0}));
}

// Gradients by hand: Rosenbrock at (-1.2, 1): (-2(1-x) - 400x(y-x²), 200(y-x²)) = (-215.6, -88).
TEST(Objectives, RosenbrockGradientAtStart) {
  Objective o = make_objective("rosenbrock", 0);
  torch::Tensor g = gradient_at(o, point(o.start));
  EXPECT_NEAR(g[0].item<double>(), -215.6, 1e-9);
  EXPECT_NEAR(g[1].item<double>(), -88.0, 1e-9);
}

// ensmallen's StyblinskiTangFunction: minimum at x_i = -2.903534, f = -39.16599 per dimension (rounded there).
TEST(Objectives, StyblinskiTangMatchesEnsmallen) {
  Objective o = make_objective("styblinski-tang", 0);
  EXPECT_NEAR(o.optimum[0], -2.903534, 1e-6);
  EXPECT_EQ(o.optimum[0], o.optimum[1]);
  EXPECT_NEAR(o.optimum_value, 2 * -39.16599, 1e-3);
}

TEST(Objectives, Float32GivesFloat32) {
  for (const std::string& name : objective_names()) {
    SCOPED_TRACE(name);
    Objective o = make_objective(name, 0);
    torch::Tensor x = point(o.start, torch::kFloat32);
    torch::Tensor loss = o.loss(x);
    EXPECT_EQ(loss.scalar_type(), torch::kFloat32);
    EXPECT_EQ(loss.dim(), 0);
    EXPECT_NEAR(loss.item<double>(), value_at(o, o.start), 1e-4 * std::max(1.0, std::abs(value_at(o, o.start))));
  }
}

TEST(Objectives, WrongShapeIsAnInternalError) {
  Objective o = make_objective("rosenbrock", 0);
  EXPECT_THROW(o.loss(torch::zeros({3}, torch::kFloat64)), InternalError);
}

TEST(Objectives, UnknownNameListsTheKnownOnes) {
  try {
    make_objective("rosenbrok", 0);
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("unknown objective 'rosenbrok'"), std::string::npos) << message;
    for (const std::string& name : objective_names()) EXPECT_NE(message.find(name), std::string::npos) << message;
  }
}

TEST(Quadratic, DeterministicPerSeed) {
  Objective a = make_objective("quadratic", 42);
  Objective b = make_objective("quadratic", 42);
  EXPECT_EQ(a.dims, kQuadraticDims);
  EXPECT_EQ(a.start, b.start);
  EXPECT_EQ(a.optimum, b.optimum);
  EXPECT_EQ(value_at(a, a.start), value_at(b, b.start));
}

TEST(Quadratic, DiffersAcrossSeeds) {
  Objective a = make_objective("quadratic", 1);
  Objective b = make_objective("quadratic", 2);
  EXPECT_NE(a.start, b.start);
  EXPECT_NE(a.optimum, b.optimum);
  EXPECT_NE(value_at(a, a.start), value_at(b, a.start));
}

// The Hessian, read column by column from gradients at x* + e_i, has eigenvalues log-spaced over [0.01, 1].
TEST(Quadratic, HessianHasTheDocumentedSpectrum) {
  Objective o = make_objective("quadratic", 5);
  const int64_t n = o.dims;
  torch::Tensor optimum = torch::tensor(o.optimum, torch::kFloat64);
  std::vector<torch::Tensor> columns;
  for (int64_t i = 0; i < n; ++i) {
    torch::Tensor x = optimum.clone();
    x[i] += 1.0;
    columns.push_back(gradient_at(o, x));
  }
  torch::Tensor hessian = torch::stack(columns, 1);
  EXPECT_LT((hessian - hessian.t()).abs().max().item<double>(), 1e-12);
  torch::Tensor eigenvalues = torch::linalg_eigvalsh(hessian);
  torch::Tensor expected = torch::logspace(-2.0, 0.0, n, 10.0, torch::kFloat64);
  EXPECT_LT((eigenvalues - expected).abs().max().item<double>(), 1e-10);
}

}  // namespace
}  // namespace nos::tasks
