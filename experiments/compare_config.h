// The settings of a comparison: the CompareConfig struct, its YAML schema, checks and the --rules list syntax.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tasks/recipe.h"

namespace nos::experiments {

// The settings of a comparison: plain data with documented defaults, read from YAML (parse_compare_config) or
// built by tests. Only `jobs` and `out` may change between the runs of one report folder.
struct CompareConfig {
  // Named rules ("adam"), native reference rows ("torch-adam"), DSL text ("exp(sign(g)*sign(m))*g"), or
  // "@RUN_DIR:topN": the N best distinct rules of a search run (its leaderboard, status ok).
  std::vector<std::string> rules;
  bool native_references = true;  // add LibTorch's own class after each named rule that has one (adam → torch-adam)
  std::string task = "fmnist-convnet";  // <dataset>-<model> (tasks::parse_task_name; analytic tasks are refused)
  int64_t epochs = 3;                   // the full budget of each seed
  int seeds = 3;                        // K seeds at the chosen lr: 0 … K−1
  std::vector<double> lr_grid = {1e-4, 1e-3, 1e-2, 1e-1, 1};  // tried with seed 0 for tune_epochs each
  int64_t tune_epochs = 1;              // the tuning budget of each lr (at most epochs)
  int64_t batch_size = 128;
  // The training recipe: schedule, weight_decay, weight_decay_mode, weight_decay_mask, clip_norm, clip_value keys
  // (tasks/recipe.h); the lr grid tunes the schedule's peak lr. Written only when set, so report folders made
  // before these keys existed read as constant lr, the rule's own decay, no clipping.
  tasks::Recipe recipe;
  int64_t train_size = -1;              // -1: every training image not held out
  int64_t validation_size = -1;         // -1: the data set's default
  bool augment = false;
  std::string device = "cpu";
  std::string dtype;                    // float32 | float64; empty: float32
  std::string data_dir;                 // the data set's folder; empty: its default
  std::string cache_dir;                // decoded-image caches; empty: $XDG_CACHE_HOME/nos or ~/.cache/nos
  int threads = 1;                      // intra-op threads per run
  int jobs = 2;                         // runs in parallel (worker processes)
  // Runs a worker trains at once as one population (dispatch/population_pool.h; 0: auto): runs with the same seed and
  // budget (a rule's tuning lrs, the rules' runs of one seed). Changes no result (timings aside): a runtime key.
  int population = 1;
  std::string out;                      // the report folder (required)
};

// The keys of the YAML schema, in documentation order.
const std::vector<std::string>& compare_config_keys();

// Reads YAML text onto a default CompareConfig (an absent key keeps its default); unknown keys and bad values throw
// nos::UserError naming the source, line and key ("compare.yaml:3: key 'seeds': expected a whole number in
// [1, 1000], got 'x'").
CompareConfig parse_compare_config(const std::string& yaml_text, const std::string& source);
CompareConfig load_compare_config(const std::string& path);

// Checks the values (also run by parse_compare_config); `source` names the config or the flags in messages.
void validate(const CompareConfig& config, const std::string& source);

// The config as YAML, every key written (parse_compare_config(to_yaml(c)) == c). `with_runtime` false leaves out
// `jobs` and `out`, which do not change results: that text is what identifies a report folder's comparison.
std::string to_yaml(const CompareConfig& config, bool with_runtime = true);

// The keys whose values differ between two comparisons, runtime keys aside: one line per key,
// "\n  epochs: 3 in the folder, 5 now" (`before` is the folder's). Empty when they are the same comparison. Both
// sides are compared as parsed configs, so a key one side does not write reads as its default there: a key added
// to the schema later does not set old report folders apart.
std::string config_differences(const CompareConfig& before, const CompareConfig& after);

// Splits a --rules value on its top-level commas: commas inside parentheses or quotes stay ("clip(g,0.001),adam"
// → ["clip(g,0.001)", "adam"]); surrounding spaces are trimmed; an empty item is a UserError.
std::vector<std::string> split_rule_list(const std::string& text);

}  // namespace nos::experiments
