// nos eval's flags into an EvalConfig, over its config file's values, and the checks of what goes together.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/eval_config.h"
#include "common/error.h"
#include "tasks/tasks.h"

namespace nos::cli {

namespace po = boost::program_options;

namespace {

// Keys only child networks take, with the flag that sets each.
const std::vector<std::pair<std::string, std::string>>& network_only_settings() {
  static const std::vector<std::pair<std::string, std::string>> settings = {
      {"epochs", "--epochs"},         {"lr_grid", "--lr-grid"},         {"lr_search", "--lr-search"},
      {"batch_size", "--batch-size"},
      {"data_dir", "--data-dir"},     {"cache_dir", "--cache-dir"},     {"validation_size", "--validation-size"},
      {"train_size", "--train-size"}, {"augment", "--augment"},         {"csv", "--csv"},
      {"schedule", "--schedule"},     {"weight_decay", "--weight-decay"}, {"weight_decay_mode", "--weight-decay-mode"},
      {"weight_decay_mask", "--weight-decay-mask"}, {"clip_norm", "--clip-norm"}, {"clip_value", "--clip-value"},
  };
  return settings;
}

// A string flag's value; null when not given.
const std::string* eval_flag(const po::variables_map& vm, const char* name) {
  return vm.count(name) ? &vm[name].as<std::string>() : nullptr;
}

// A flag overrides the config file's value of its key and of the key it excludes (--lr replaces a file's
// lr_grid); the same source giving both is an error (check_eval_settings).
void set_flag_origin(EvalConfig& config, const std::string& key, const std::string& flag_name,
                     const std::string& excluded) {
  config.origins[key] = flag_name;
  if (!excluded.empty() && config.origins.count(excluded) && config.origins[excluded].rfind("--", 0) != 0) {
    config.origins.erase(excluded);
    if (excluded == "steps") config.steps.reset();
    if (excluded == "epochs") config.epochs.reset();
    if (excluded == "lr") config.lr.reset();
    if (excluded == "lr_grid") config.lr_grid.clear();
  }
}

// The rule, the task and the training budget's flags (with the recipe's).
void apply_eval_budget_flags(const po::variables_map& vm, EvalConfig& config) {
  if (const std::string* v = eval_flag(vm, "rule")) {
    if (v->empty()) throw UserError("--rule: expected a rule name or DSL text");
    config.rule = *v;
    config.rule_origin = "--rule";
  }
  if (const std::string* v = eval_flag(vm, "task")) config.task = parse_task(*v, "--task");
  if (const std::string* v = eval_flag(vm, "steps")) {
    config.steps = parse_steps(*v, "--steps");
    set_flag_origin(config, "steps", "--steps", "epochs");
  }
  if (const std::string* v = eval_flag(vm, "epochs")) {
    config.epochs = parse_count(*v, "--epochs", "a number of epochs");
    set_flag_origin(config, "epochs", "--epochs", "steps");
  }
  if (const std::string* v = eval_flag(vm, "lr")) {
    config.lr = parse_lr(*v, "--lr");
    set_flag_origin(config, "lr", "--lr", "lr_grid");
  }
  if (const std::string* v = eval_flag(vm, "lr-grid")) {
    config.lr_grid = parse_lr_grid(*v, "--lr-grid");
    set_flag_origin(config, "lr_grid", "--lr-grid", "lr");
  }
  if (const std::string* v = eval_flag(vm, "lr-search")) {
    config.lr_search = parse_lr_search(*v, "--lr-search");
    set_flag_origin(config, "lr_search", "--lr-search", "");
  }
  if (const std::string* v = eval_flag(vm, "batch-size")) {
    config.batch_size = parse_count(*v, "--batch-size", "a batch size");
    set_flag_origin(config, "batch_size", "--batch-size", "");
  }
  for (const std::string& given : apply_recipe_flags(vm, config.recipe)) {
    std::string key = given.substr(2);
    std::replace(key.begin(), key.end(), '-', '_');
    set_flag_origin(config, key, given, "");
  }
}

// The flags of the run's data, precision and machine.
void apply_eval_data_flags(const po::variables_map& vm, EvalConfig& config) {
  if (const std::string* v = eval_flag(vm, "dtype")) config.dtype = parse_dtype(*v, "--dtype");
  if (const std::string* v = eval_flag(vm, "seed")) config.seed = parse_seed(*v, "--seed");
  if (const std::string* v = eval_flag(vm, "device")) config.device = parse_device(*v, "--device");
  if (const std::string* v = eval_flag(vm, "threads")) config.threads = parse_threads(*v, "--threads");
  if (const std::string* v = eval_flag(vm, "data-dir")) {
    if (v->empty()) throw UserError("--data-dir: expected a directory");
    config.data_dir = *v;
    set_flag_origin(config, "data_dir", "--data-dir", "");
  }
  if (const std::string* v = eval_flag(vm, "cache-dir")) {
    if (v->empty()) throw UserError("--cache-dir: expected a directory");
    config.cache_dir = *v;
    set_flag_origin(config, "cache_dir", "--cache-dir", "");
  }
  if (const std::string* v = eval_flag(vm, "validation-size")) {
    config.validation_size = parse_count(*v, "--validation-size", "a number of validation images");
    set_flag_origin(config, "validation_size", "--validation-size", "");
  }
  if (const std::string* v = eval_flag(vm, "train-size")) {
    config.train_size = parse_count(*v, "--train-size", "a number of training images");
    set_flag_origin(config, "train_size", "--train-size", "");
  }
  if (vm["augment"].as<bool>()) {
    config.augment = true;
    set_flag_origin(config, "augment", "--augment", "");
  }
  if (vm.count("csv")) set_flag_origin(config, "csv", "--csv", "");
}

}  // namespace

void apply_eval_flags(const po::variables_map& vm, EvalConfig& config) {
  apply_eval_budget_flags(vm, config);
  apply_eval_data_flags(vm, config);
}

// Settings that do not go together, or not with this task.
void check_eval_settings(const po::variables_map& vm, EvalConfig& config, const tasks::TaskSpec& task) {
  if (task.analytic) {
    for (const auto& [key, flag_name] : network_only_settings()) {
      if (config.origins.count(key)) {
        throw UserError(config.origins[key] + ": only child-network tasks (e.g. fmnist-convnet) take this setting; '" +
                        task.name + "' is an analytic objective");
      }
    }
    for (const std::string flag_name : {"no-test", "quiet"}) {
      if (vm[flag_name].as<bool>()) {
        throw UserError("--" + flag_name + ": only child-network tasks (e.g. fmnist-convnet) take this flag; '" +
                        task.name + "' is an analytic objective");
      }
    }
  }
  if (config.augment && !task.analytic) tasks::check_augmentable(task.dataset, config.origins["augment"]);
  if (config.steps && config.epochs) {
    throw UserError(config.origins["steps"] + " and " + config.origins["epochs"] +
                    ": give the budget in steps or in epochs, not both");
  }
  if (config.lr && !config.lr_grid.empty()) {
    throw UserError(config.origins["lr"] + " and " + config.origins["lr_grid"] +
                    ": give a fixed lr or an lr grid to choose from, not both");
  }
}

}  // namespace nos::cli
