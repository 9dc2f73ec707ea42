// The comparison's config: the YAML schema onto CompareConfig, its checks, its YAML text and the --rules syntax.
#include "experiments/compare_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/text.h"
#include "common/yaml_reader.h"
#include "tasks/evaluator.h"
#include "tasks/settings_yaml.h"

namespace nos::experiments {

namespace {

// The keys in documentation order: the comparison's own around the training settings it offers
// (tasks/settings.h, kCompare), so a new setting is a key here with no edit.
std::vector<std::string> compare_keys() {
  std::vector<std::string> keys = {"rules", "native_references", "baseline"};
  // The order report folders were written in: batch_size after the tuning keys.
  for (const std::string& key : tasks::setting_keys_in(tasks::kCompare)) {
    if (key != "batch_size") keys.push_back(key);
    if (key == "epochs") keys.insert(keys.end(), {"seeds", "first_seed", "tune_seed"});
    if (key == "lr_grid") keys.insert(keys.end(), {"tune_epochs", "batch_size"});
  }
  keys.push_back("jobs");
  keys.push_back("out");
  return keys;
}

const std::map<std::string, std::vector<std::string>>& compare_sections() {
  static const std::map<std::string, std::vector<std::string>> table = {{"", compare_keys()}};
  return table;
}

// Top-level "key: value" lines of a config text (comments dropped).
std::map<std::string, std::string> yaml_lines(const std::string& text) {
  std::map<std::string, std::string> out;
  std::stringstream s(text);
  std::string line;
  while (std::getline(s, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    out[line.substr(0, colon)] = trim(line.substr(colon + 1));
  }
  return out;
}

// Keys that change no result: not part of what identifies a report folder's comparison.
bool is_runtime_key(const std::string& key) {
  return key == "cache_dir" || key == "jobs" || key == "population" || key == "out" || key == "baseline";
}

}  // namespace

const std::vector<std::string>& compare_config_keys() { return compare_sections().at(""); }

namespace {

CompareConfig parse_onto(CompareConfig c, const std::string& yaml_text, const std::string& source) {
  const YAML::Node root = load_yaml(yaml_text, source);
  if (root.IsNull()) {
    validate(c, source);
    return c;
  }
  const YamlReader r(source, compare_sections());
  r.each_key(root, "", [&](const std::string& key, const YAML::Node& v, const std::string& path) {
    if (key == "rules") {
      c.rules = v.IsNull() ? std::vector<std::string>{} : r.strings(v, path);
    } else if (key == "native_references") {
      c.native_references = r.boolean(v, path);
    } else if (key == "seeds") {
      c.seeds = r.integer<int>(v, path, 1, 1000);
    } else if (key == "first_seed") {
      c.first_seed = r.integer<uint64_t>(v, path, 0, UINT64_MAX - 1000);
    } else if (key == "tune_seed") {
      c.tune_seed = r.integer<uint64_t>(v, path, 0, UINT64_MAX);
    } else if (key == "baseline") {
      c.baseline = v.IsNull() ? std::string() : r.scalar(v, path);
    } else if (key == "tune_epochs") {
      c.tune_epochs = r.integer<int64_t>(v, path, 1, int64_t{1} << 40);
    } else if (key == "jobs") {
      c.jobs = r.integer<int>(v, path, 1, 1024);
    } else if (key == "out") {
      c.out = v.IsNull() ? std::string() : r.scalar(v, path);
    } else {
      tasks::read_setting(r, key, v, path, c);
      if (key == "task" && tasks::parse_task_name(c.task).analytic) {
        r.fail(v, path, "'" + c.task + "' is an analytic objective; compare trains classifiers (<dataset>-<model>, "
                        "e.g. fmnist-convnet)");
      }
      if (key == "validation_size" && c.validation_size == 0) {
        r.fail(v, path, "expected -1 (the default) or a count >= 1: lr tuning needs it");
      }
    }
  });
  validate(c, source);
  return c;
}

}  // namespace

CompareConfig parse_compare_config(const std::string& yaml_text, const std::string& source) {
  return parse_onto(CompareConfig{}, yaml_text, source);
}

CompareConfig parse_recorded_compare_config(const std::string& yaml_text, const std::string& source) {
  CompareConfig legacy;
  legacy.split = "legacy";
  legacy.first_seed = 0;
  legacy.tune_seed = 0;
  return parse_onto(legacy, yaml_text, source);
}

CompareConfig load_compare_config(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw UserError(path + ": cannot open the config file (does it exist and is it readable?)");
  std::stringstream text;
  text << file.rdbuf();
  return parse_compare_config(text.str(), path);
}

void validate(const CompareConfig& c, const std::string& source) {
  auto fail = [&](const std::string& key, const std::string& message) {
    throw UserError(source + ": key '" + key + "': " + message);
  };
  const tasks::TaskSpec spec = tasks::parse_task_name(c.task);
  if (spec.analytic) fail("task", "'" + c.task + "' is an analytic objective; compare trains classifiers");
  if (c.augment) tasks::check_augmentable(spec.dataset, source + ": key 'augment'");
  if (c.epochs < 1) fail("epochs", "must be >= 1");
  if (c.seeds < 1) fail("seeds", "must be >= 1");
  if (c.lr_grid.empty()) fail("lr_grid", "is empty: give the learning rates to tune over");
  std::set<double> seen;
  for (double lr : c.lr_grid) {
    if (!(lr > 0) || !std::isfinite(lr)) fail("lr_grid", "holds " + nos::format_number(lr) + "; each lr must be > 0");
    if (!seen.insert(lr).second) fail("lr_grid", "holds " + nos::format_number(lr) + " twice");
  }
  const std::vector<uint64_t> seeds = final_seeds(c);
  // One lr is no choice: its run may be a final seed.
  if (c.split != "legacy" && c.lr_grid.size() > 1 &&
      std::find(seeds.begin(), seeds.end(), c.tune_seed) != seeds.end()) {
    fail("tune_seed", std::to_string(c.tune_seed) + " is one of the final seeds (" + std::to_string(c.first_seed) +
                          " … " + std::to_string(seeds.back()) +
                          "): the seed the lr was chosen on would be reported as a fresh one (allowed only with "
                          "split: legacy)");
  }
  if (c.tune_epochs < 1) fail("tune_epochs", "must be >= 1");
  if (c.tune_epochs > c.epochs) {
    fail("tune_epochs", "is " + std::to_string(c.tune_epochs) + ", more than epochs (" + std::to_string(c.epochs) +
                            "): tuning would cost more than the runs it tunes");
  }
  if (c.batch_size < 1) fail("batch_size", "must be >= 1");
  if (c.threads < 1) fail("threads", "must be >= 1");
  if (c.jobs < 1) fail("jobs", "must be >= 1");
  if (c.population < 0) fail("population", "must be auto or >= 1");
  if (c.validation_size == 0) fail("validation_size", "must not be 0: lr tuning reads the validation accuracy");
  try {
    // What can be checked before the run's length is known (the rest when the first run starts).
    tasks::check_recipe(c.recipe, int64_t{1} << 40, 1);
  } catch (const UserError& e) {
    throw UserError(source + ": " + e.what());
  }
}

std::vector<uint64_t> final_seeds(const CompareConfig& config) {
  std::vector<uint64_t> seeds;
  for (int k = 0; k < config.seeds; ++k) seeds.push_back(config.first_seed + static_cast<uint64_t>(k));
  return seeds;
}

bool tuning_run_is_final(const CompareConfig& config) {
  const std::vector<uint64_t> seeds = final_seeds(config);
  return config.tune_epochs == config.epochs && std::find(seeds.begin(), seeds.end(), config.tune_seed) != seeds.end();
}

std::string baseline_rule(const CompareConfig& config) {
  if (config.baseline == "none") return "";
  if (!config.baseline.empty()) return config.baseline;
  return std::find(config.rules.begin(), config.rules.end(), "adam") != config.rules.end() ? "adam" : "";
}

std::string to_yaml(const CompareConfig& c, bool with_runtime) {
  std::ostringstream y;
  for (const std::string& key : compare_config_keys()) {
    if (!with_runtime && is_runtime_key(key)) continue;
    if (key == "rules") {
      y << "rules: " << yaml_list(c.rules) << "\n";
    } else if (key == "native_references") {
      y << "native_references: " << (c.native_references ? "true" : "false") << "\n";
    } else if (key == "seeds") {
      y << "seeds: " << c.seeds << "\n";
    } else if (key == "first_seed") {
      y << "first_seed: " << c.first_seed << "\n";
    } else if (key == "tune_seed") {
      y << "tune_seed: " << c.tune_seed << "\n";
    } else if (key == "baseline") {
      if (!c.baseline.empty()) y << "baseline: " << yaml_quoted(c.baseline) << "\n";
    } else if (key == "tune_epochs") {
      y << "tune_epochs: " << c.tune_epochs << "\n";
    } else if (key == "jobs") {
      y << "jobs: " << c.jobs << "\n";
    } else if (key == "out") {
      y << "out: " << yaml_quoted(c.out) << "\n";
    } else {
      y << tasks::settings_yaml(c, {key}, "");
    }
  }
  return y.str();
}

std::string config_differences(const CompareConfig& before, const CompareConfig& after) {
  const std::map<std::string, std::string> old_lines = yaml_lines(to_yaml(before, false));
  const std::map<std::string, std::string> new_lines = yaml_lines(to_yaml(after, false));
  std::string diffs;
  for (const auto& [key, value] : new_lines) {
    auto found = old_lines.find(key);
    const std::string old = found == old_lines.end() ? "(absent)" : found->second;
    if (old != value) diffs += "\n  " + key + ": " + old + " in the folder, " + value + " now";
  }
  for (const auto& [key, value] : old_lines) {
    if (!new_lines.count(key)) diffs += "\n  " + key + ": " + value + " in the folder, (absent) now";
  }
  return diffs;
}

std::vector<std::string> split_rule_list(const std::string& text) {
  std::vector<std::string> items;
  std::string current;
  int depth = 0;
  char quote = 0;
  auto finish = [&](bool last) {
    const std::string item = trim(current);
    if (item.empty()) {
      if (last && items.empty()) throw UserError("--rules: no rule given");
      throw UserError("--rules: empty item at position " + std::to_string(items.size() + 1) + " of '" + text +
                      "' (two commas in a row, or a comma at an end?)");
    }
    items.push_back(item);
    current.clear();
  };
  for (char ch : text) {
    if (quote) {
      if (ch == quote) quote = 0;
      current += ch;
    } else if (ch == '"' || ch == '\'') {
      quote = ch;
      current += ch;
    } else if (ch == '(') {
      ++depth;
      current += ch;
    } else if (ch == ')') {
      depth = std::max(0, depth - 1);
      current += ch;
    } else if (ch == ',' && depth == 0) {
      finish(false);
    } else {
      current += ch;
    }
  }
  finish(true);
  return items;
}

}  // namespace nos::experiments
