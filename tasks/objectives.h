// Analytic objectives: small differentiable test functions of one parameter vector, with known optima.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace nos::tasks {

// One test function f: R^dims → R. `loss` takes a 1-D tensor of `dims` elements (float32 or float64, on any
// device) and returns a 0-D tensor of the same dtype and device, differentiable by autograd. The function is pure:
// it keeps no state between calls, so one Objective may be evaluated from several threads at once.
struct Objective {
  std::string name;
  int64_t dims = 0;
  std::vector<double> start;    // where a run begins
  std::vector<double> optimum;  // a global minimiser
  double optimum_value = 0.0;   // f(optimum)
  std::function<torch::Tensor(const torch::Tensor&)> loss;
  std::string description;
};

// Names of every objective, in a fixed order: rosenbrock, quadratic, sphere, styblinski-tang, beale, booth.
std::vector<std::string> objective_names();

// Builds the named objective. `seed` matters only for seeded objectives (quadratic); the others ignore it.
// Throws nos::UserError listing the known names when `name` is unknown.
Objective make_objective(std::string_view name, uint64_t seed = 0);

// Dimension and condition number of the seeded quadratic: eigenvalues log-spaced over [kQuadraticMinEigenvalue, 1].
inline constexpr int64_t kQuadraticDims = 100;
inline constexpr double kQuadraticMinEigenvalue = 0.01;

}  // namespace nos::tasks
