// The settings of `nos eval`: the training settings it offers (the field table's kEval rows, tasks/settings.h) with
// its defaults, its own (the rule), where each was set, the YAML config file and its flags.
#pragma once

#include <boost/program_options.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tasks/evaluator.h"
#include "tasks/settings.h"

namespace nos::cli {

inline constexpr int64_t kDefaultObjectiveSteps = 5000;
inline constexpr double kDefaultObjectiveLr = 1e-3;
inline constexpr int64_t kDefaultEpochs = 5;

// What `nos eval` runs. Defaults (the embedded example, `nos eval` with no arguments): PowerSign on Rosenbrock.
// Settings nobody set take a default that depends on the kind of task (resolve_eval_defaults): an analytic objective
// runs kDefaultObjectiveSteps steps at kDefaultObjectiveLr in float64; a child network trains kDefaultEpochs epochs
// at the lr the grid chooses, in float32.
struct EvalConfig : tasks::TrainingSettings {
  EvalConfig();  // task rosenbrock, epochs kDefaultEpochs, threads 0 (LibTorch's default), the rest the table's
  std::string rule = "powersign";  // a named rule or DSL text
  // Where `rule` came from, for messages: "--rule", "FILE:LINE: key 'rule'" or "default".
  std::string rule_origin = "default";
  // Where each setting was last set, by key ("epochs" → "--epochs" or "FILE:LINE: key 'epochs'"; "csv" → "--csv"):
  // whether it was set at all, and for messages about settings that do not fit the task or each other.
  std::map<std::string, std::string> origins;

  bool given(const std::string& key) const { return origins.count(key) != 0; }
};

// The training settings nos eval offers (the table's kEval rows), in the table's order.
const std::vector<std::string>& eval_setting_keys();
// The keys an eval config file may hold: rule, then eval_setting_keys().
const std::vector<std::string>& eval_config_keys();

// Reads the YAML mapping in `path` onto `config` (keys it lacks keep their value), recording each key's place in
// config.origins. Throws UserError for a missing or unreadable file, invalid YAML ("FILE:LINE:COL: ..."), and
// unknown keys or bad values ("FILE:LINE: key 'x': ...").
void load_eval_config(const std::string& path, EvalConfig& config);

// nos eval's flags of its training settings (cli/eval_flags.cpp), from the field table with eval's own defaults.
void add_eval_setting_options(boost::program_options::options_description& options);
// nos eval's flags over `config`: a flag overrides its key and the key it excludes (--lr a file's lr_grid), and is
// recorded in config.origins.
void apply_eval_flags(const boost::program_options::variables_map& vm, EvalConfig& config);
// Settings that do not go together (--steps and --epochs from one source), or not with `task` (a network's setting
// for an analytic objective), or not with this machine (cuda without CUDA): a UserError naming where each came from.
void check_eval_settings(const boost::program_options::variables_map& vm, const EvalConfig& config,
                         const tasks::TaskSpec& task);
// The settings nobody set, by the kind of task: steps, lr and dtype of an objective; dtype of a network.
void resolve_eval_defaults(EvalConfig& config, const tasks::TaskSpec& task);

// The torch::Device of "cpu", "cuda" or "cuda:N"; a UserError "`where`: …" for another text, or a CUDA device this
// machine does not have (checked before any work starts, not in every worker).
torch::Device parse_device(std::string_view text, const std::string& where);

}  // namespace nos::cli
