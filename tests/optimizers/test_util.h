// Helpers shared by the optimizer tests: compile a rule, build an optimizer, compare tensors.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string_view>
#include <vector>

#include "dsl/dsl.h"
#include "optimizers/optimizers.h"

namespace nos::optimizers::testing {

// The fixed noisy quadratic of data/make_torch_optim_golden.py (golden_torch_test.cpp, export_test.cpp):
// g_i = c_i·(w_i − target_i) + 0.5·sin(0.7k + i) from kStart.
inline const std::vector<double> kC = {1.0, 0.5, 2.0, 0.1, 4.0, 1.0};
inline const std::vector<double> kTarget = {1.0, -2.0, 0.5, 3.0, -1.0, 0.25};
inline const std::vector<double> kStart = {0.0, 0.3, -0.4, 0.0, 0.2, -1.0};

inline std::shared_ptr<const dsl::Program> compile_rule(std::string_view text) {
  return std::make_shared<const dsl::Program>(dsl::compile(dsl::parse(text)));
}

inline RuleOptimizer make_rule_optimizer(std::string_view text, std::vector<torch::Tensor> params,
                                         RuleOptions options = {}) {
  return RuleOptimizer(std::move(params), compile_rule(text), options);
}

// Largest |a − b| / max(|b|, floor) over the elements.
inline double max_relative_error(const torch::Tensor& a, const torch::Tensor& b, double floor = 1e-12) {
  auto a64 = a.detach().to(torch::kFloat64).cpu();
  auto b64 = b.detach().to(torch::kFloat64).cpu();
  return ((a64 - b64).abs() / b64.abs().clamp_min(floor)).max().item<double>();
}

// A leaf parameter holding `values`, with the given dtype.
inline torch::Tensor parameter(std::vector<double> values, torch::Dtype dtype = torch::kFloat64) {
  return torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat64)).to(dtype).requires_grad_(true);
}

// Sets p.grad() to `values` (a copy in p's dtype and device).
inline void set_grad(const torch::Tensor& p, std::vector<double> values) {
  p.mutable_grad() =
      torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat64)).to(p.options()).view(p.sizes());
}

}  // namespace nos::optimizers::testing
