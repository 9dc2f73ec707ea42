// The settings of `nos eval`: defaults, the YAML config file, and value parsers shared by flags and config keys.
#pragma once

#include <boost/program_options.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tasks/evaluator.h"
#include "tasks/recipe.h"

namespace nos::cli {

// What `nos eval` runs. Defaults (the embedded example, `nos eval` with no arguments): PowerSign on Rosenbrock.
// Settings left unset take a default that depends on the kind of task (analytic objective or child network).
struct EvalConfig {
  std::string rule = "powersign";  // a named rule or DSL text
  std::string task = "rosenbrock";
  std::optional<int64_t> steps;    // analytic: optimizer steps (default 5000); networks: a budget in steps
  std::optional<int64_t> epochs;   // networks: the budget in epochs (default 5); not for analytic tasks
  std::optional<double> lr;        // analytic: default 1e-3; networks: unset = choose from lr_grid
  std::vector<double> lr_grid;     // networks: the lrs tried when lr is unset (empty: 1e-5 ... 1)
  std::string lr_search = "full";  // networks: how the grid chooses (tasks::TrainConfig::lr_search)
  std::optional<torch::Dtype> dtype;  // default float64 for analytic tasks, float32 for networks
  uint64_t seed = 0;
  torch::Device device = torch::kCPU;
  int64_t batch_size = 128;
  int threads = 0;                 // 0: LibTorch's default
  std::string data_dir;            // empty: the data set's default location
  std::string cache_dir;           // empty: $XDG_CACHE_HOME/nos or ~/.cache/nos
  int64_t validation_size = -1;    // -1: the data set's default
  int64_t train_size = -1;         // -1: every training image not held out
  bool augment = false;
  tasks::Recipe recipe;            // networks: schedule, weight decay, clipping (tasks/recipe.h)
  // Where `rule` came from, for messages: "--rule", "FILE: key 'rule'" or "default".
  std::string rule_origin = "default";
  // Where each setting was last set, by key ("epochs" → "--epochs" or "FILE: key 'epochs'"), for messages about
  // settings that do not fit the task or each other.
  std::map<std::string, std::string> origins;
};

inline constexpr int64_t kDefaultObjectiveSteps = 5000;
inline constexpr double kDefaultObjectiveLr = 1e-3;
inline constexpr int64_t kDefaultEpochs = 5;

// The keys an eval config file may hold, in documentation order.
const std::vector<std::string>& eval_config_keys();

// Reads the YAML mapping in `path` onto `config` (keys it lacks keep their value). Throws UserError for a missing or
// unreadable file, invalid YAML ("FILE:LINE:COL: ..."), and unknown keys or bad values ("FILE: key 'x': ...").
void load_eval_config(const std::string& path, EvalConfig& config);

// nos eval's flags over `config` (cli/eval_flags.cpp): a flag overrides its key and the key it excludes (--lr a
// file's lr_grid), and is recorded in config.origins.
void apply_eval_flags(const boost::program_options::variables_map& vm, EvalConfig& config);
// Settings that do not go together (--steps and --epochs from one source), or not with `task` (a network's setting
// for an analytic objective): a UserError naming where each came from.
void check_eval_settings(const boost::program_options::variables_map& vm, EvalConfig& config,
                         const tasks::TaskSpec& task);

// Value parsers shared by flags and config keys. `where` names the source ("--steps", "FILE: key 'steps'") and
// prefixes the UserError message of a bad value.
int64_t parse_steps(std::string_view text, const std::string& where);    // integer ≥ 1
double parse_lr(std::string_view text, const std::string& where);        // finite number > 0
std::vector<double> parse_lr_grid(std::string_view text, const std::string& where);
std::string parse_lr_search(std::string_view text, const std::string& where);  // full or halving  // "1e-4,1e-3": lrs > 0
torch::Dtype parse_dtype(std::string_view text, const std::string& where);  // float32 | float64
uint64_t parse_seed(std::string_view text, const std::string& where);    // integer in [0, 2^64)
torch::Device parse_device(std::string_view text, const std::string& where);  // cpu | cuda | cuda:N (if available)
std::string parse_task(std::string_view text, const std::string& where);  // an objective or <dataset>-<model>
int64_t parse_count(std::string_view text, const std::string& where, const std::string& what);  // integer ≥ 1
int parse_threads(std::string_view text, const std::string& where);      // integer in [1, 1024]
int parse_population(std::string_view text, const std::string& where);   // auto (0) or an integer in [1, 4096]
bool parse_bool(std::string_view text, const std::string& where);        // true/false, yes/no, on/off, 1/0

// "float32" / "float64".
std::string dtype_name(torch::Dtype dtype);

}  // namespace nos::cli
