// The settings of `nos eval`: defaults, the YAML config file, and value parsers shared by flags and config keys.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nos::cli {

// What `nos eval` runs. Defaults (the embedded example, `nos eval` with no arguments): PowerSign on Rosenbrock.
struct EvalConfig {
  std::string rule = "powersign";  // a named rule or DSL text
  std::string task = "rosenbrock";
  int64_t steps = 5000;
  double lr = 1e-3;
  torch::Dtype dtype = torch::kFloat64;
  uint64_t seed = 0;
  torch::Device device = torch::kCPU;
  // Where `rule` came from, for messages: "--rule", "FILE: key 'rule'" or "default".
  std::string rule_origin = "default";
};

// The keys an eval config file may hold, in documentation order.
const std::vector<std::string>& eval_config_keys();

// Reads the YAML mapping in `path` onto `config` (keys it lacks keep their value). Throws UserError for a missing or
// unreadable file, invalid YAML ("FILE:LINE:COL: ..."), and unknown keys or bad values ("FILE: key 'x': ...").
void load_eval_config(const std::string& path, EvalConfig& config);

// Value parsers shared by flags and config keys. `where` names the source ("--steps", "FILE: key 'steps'") and
// prefixes the UserError message of a bad value.
int64_t parse_steps(std::string_view text, const std::string& where);    // integer ≥ 1
double parse_lr(std::string_view text, const std::string& where);        // finite number > 0
torch::Dtype parse_dtype(std::string_view text, const std::string& where);  // float32 | float64
uint64_t parse_seed(std::string_view text, const std::string& where);    // integer in [0, 2^64)
torch::Device parse_device(std::string_view text, const std::string& where);  // cpu | cuda | cuda:N (if available)
std::string parse_task(std::string_view text, const std::string& where);  // a known objective name

// "float32" / "float64".
std::string dtype_name(torch::Dtype dtype);

}  // namespace nos::cli
