// nos eval's flags onto an EvalConfig, over its config file's values; the checks of what goes together; the defaults
// that depend on the kind of task.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/eval_config.h"
#include "common/error.h"
#include "common/text.h"
#include "tasks/tasks.h"

namespace nos::cli {

namespace po = boost::program_options;

namespace {

// The settings an analytic objective takes; every other one (and --csv) is a child network's.
bool objective_setting(const std::string& key) {
  static const std::vector<std::string> keys = {"task", "steps", "lr", "dtype", "seed", "device", "threads"};
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// The setting each one excludes: a budget is given in steps or in epochs, an lr fixed or chosen from a grid.
const std::map<std::string, std::string>& excluded_settings() {
  static const std::map<std::string, std::string> excluded = {
      {"steps", "epochs"}, {"epochs", "steps"}, {"lr", "lr_grid"}, {"lr_grid", "lr"}};
  return excluded;
}

// nos eval's help line of the settings whose default depends on the kind of task (the rows' own for the rest).
const std::map<std::string, std::string>& eval_setting_help() {
  static const std::map<std::string, std::string> help = {
      {"epochs", "a network's budget in epochs, unless --steps; default " + std::to_string(kDefaultEpochs)},
      {"steps", "the budget in optimizer steps, >= 1 (T of the decays); default " +
                    std::to_string(kDefaultObjectiveSteps) + " on an objective, --epochs on a network"},
      {"lr", "train at this lr; default " + format_number(kDefaultObjectiveLr) +
                 " on an objective; on a network (or 0) the lr that --lr-grid chooses"},
      {"threads", "intra-op threads; default LibTorch's choice"},
  };
  return help;
}

}  // namespace

void add_eval_setting_options(po::options_description& options) {
  add_setting_options(options, eval_setting_keys(), EvalConfig(), eval_setting_help());
}

void apply_eval_flags(const po::variables_map& vm, EvalConfig& config) {
  if (vm.count("rule")) {
    config.rule = vm["rule"].as<std::string>();
    if (config.rule.empty()) throw UserError("--rule: expected a rule name or DSL text");
    config.rule_origin = "--rule";
  }
  const std::vector<std::string> given = apply_setting_flags(vm, eval_setting_keys(), config);
  for (const std::string& flag : given) config.origins[setting_key_of_flag(flag)] = flag;
  // A flag overrides the config file's value of the key it excludes too (--lr replaces a file's lr_grid); the same
  // source giving both is an error (check_eval_settings).
  const EvalConfig defaults;
  for (const std::string& flag : given) {
    const auto excluded = excluded_settings().find(setting_key_of_flag(flag));
    if (excluded == excluded_settings().end()) continue;
    const std::string& other = excluded->second;
    if (config.given(other) && config.origins[other].rfind("--", 0) != 0) {
      config.origins.erase(other);
      tasks::set_setting(config, other, tasks::setting_field(other).text(defaults));
    }
  }
  if (vm.count("csv")) config.origins["csv"] = "--csv";
}

void check_eval_settings(const po::variables_map& vm, const EvalConfig& config, const tasks::TaskSpec& task) {
  const auto origin = [&](const std::string& key) { return config.origins.at(key); };
  if (task.analytic) {
    for (const auto& [key, where] : config.origins) {
      if (objective_setting(key)) continue;
      throw UserError(where + ": only child-network tasks (e.g. fmnist-convnet) take this setting; '" + task.name +
                      "' is an analytic objective");
    }
    for (const std::string flag_name : {"no-test", "quiet"}) {
      if (vm[flag_name].as<bool>()) {
        throw UserError("--" + flag_name + ": only child-network tasks (e.g. fmnist-convnet) take this flag; '" +
                        task.name + "' is an analytic objective");
      }
    }
    if (config.dtype == "bfloat16") throw UserError(origin("dtype") + ": " + tasks::kBfloat16Objective);
    if (config.given("lr") && config.lr == 0) {
      throw UserError(origin("lr") + ": an analytic objective trains at a fixed lr: expected a number > 0, got '0'");
    }
  }
  if (config.given("steps") && config.steps == 0) {
    throw UserError(origin("steps") +
                    ": expected a number of steps >= 1 (leave steps out for the default budget), got '0'");
  }
  if (config.augment && !task.analytic) tasks::check_augmentable(task.dataset, origin("augment"));
  if (config.given("steps") && config.given("epochs")) {
    throw UserError(origin("steps") + " and " + origin("epochs") + ": give the budget in steps or in epochs, not both");
  }
  if (config.given("lr") && config.lr > 0 && config.given("lr_grid")) {
    throw UserError(origin("lr") + " and " + origin("lr_grid") +
                    ": give a fixed lr or an lr grid to choose from, not both");
  }
  // Here, not in every run: CUDA asked for on a machine without it.
  if (config.device != "cpu") parse_device(config.device, config.given("device") ? origin("device") : "device");
}

void resolve_eval_defaults(EvalConfig& config, const tasks::TaskSpec& task) {
  if (task.analytic) {
    if (!config.given("steps")) config.steps = kDefaultObjectiveSteps;
    if (!config.given("lr")) config.lr = kDefaultObjectiveLr;
  }
  if (config.dtype.empty()) config.dtype = task.analytic ? "float64" : "float32";
}

}  // namespace nos::cli
