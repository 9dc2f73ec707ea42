// The settings of a comparison: the CompareConfig struct, its YAML schema, checks and the --rules list syntax.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tasks/settings.h"

namespace nos::experiments {

// The settings of a comparison: the training settings (tasks/settings.h) with a comparison's defaults and keys,
// plus its own. Plain data, read from YAML (parse_compare_config) or built by tests. Only `jobs`, `out`, `cache_dir`
// and `population` (runtime keys: they change no result) may change between the runs of one report folder. The
// recipe (schedule, weight_decay, …) is written only when set, so report folders made before those keys existed
// read as constant lr, the rule's own decay, no clipping; the lr grid tunes the schedule's peak lr.
// A comparison's default seeds: far from every search's child seeds (task.seed + fitness seeds from 0).
inline constexpr uint64_t kConfirmationTuneSeed = 1000;
inline constexpr uint64_t kFirstConfirmationSeed = 1001;

struct CompareConfig : tasks::TrainingSettings {
  CompareConfig() {
    task = "fmnist-convnet";  // <dataset>-<model> (analytic tasks are refused)
    epochs = 3;               // the full budget of each seed
    lr_grid = {1e-4, 1e-3, 1e-2, 1e-1, 1};  // tried with seed 0 for tune_epochs each
  }
  // Named rules ("adam"), native reference rows ("torch-adam"), DSL text ("exp(sign(g)*sign(m))*g"), or
  // "@RUN_DIR:topN": the N best distinct rules of a search run (its leaderboard, status ok).
  std::vector<std::string> rules;
  bool native_references = true;  // add LibTorch's own class after each named rule that has one (adam → torch-adam)
  int seeds = 3;                  // K seeds at the chosen lr: first_seed … first_seed + K − 1
  // The final seeds start here and the lr is tuned with tune_seed: the defaults keep both apart from each other and
  // from every search's child seeds (task.seed, 0 by default, + fitness seeds), so a confirmation never reuses a
  // selection's randomness. Report folders made before these keys existed say 0 and 0 (the tuning run at the chosen
  // lr was seed 0 itself when tune_epochs == epochs).
  uint64_t first_seed = kFirstConfirmationSeed;
  uint64_t tune_seed = kConfirmationTuneSeed;
  int64_t tune_epochs = 1;        // the tuning budget of each lr (at most epochs)
  // The rule every other row is compared with in the report (paired by seed; Holm-corrected verdicts): a rule of
  // `rules` as written; default adam when adam is a row; "none": no comparison. Changes no run.
  std::string baseline;
  int jobs = 2;                   // runs in parallel (worker processes)
  std::string out;                // the report folder (required)
};

// The final seeds of a comparison: first_seed … first_seed + seeds − 1.
std::vector<uint64_t> final_seeds(const CompareConfig& config);
// Whether the tuning run at the chosen lr is one of the final seeds (tune_epochs == epochs and tune_seed among
// them: only legacy configs): it then counts once for both.
bool tuning_run_is_final(const CompareConfig& config);
// The rule the report compares with: `baseline`, else "adam" when it is a row, else "" (none).
std::string baseline_rule(const CompareConfig& config);

// The keys of the YAML schema, in documentation order.
const std::vector<std::string>& compare_config_keys();

// Reads YAML text onto a default CompareConfig (an absent key keeps its default); unknown keys and bad values throw
// nos::UserError naming the source, line and key ("compare.yaml:3: key 'seeds': expected a whole number in
// [1, 1000], got 'x'").
CompareConfig parse_compare_config(const std::string& yaml_text, const std::string& source);
CompareConfig load_compare_config(const std::string& path);
// A report folder's config.yaml: as parse_compare_config, but a folder written before the purpose split (no split,
// first_seed or tune_seed key) reads as it was run: split legacy, seeds from 0, tuned on seed 0.
CompareConfig parse_recorded_compare_config(const std::string& yaml_text, const std::string& source);

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
