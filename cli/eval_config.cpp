// Parsing of `nos eval` settings: typed values from text, and the YAML config file onto EvalConfig.
#include "cli/eval_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/yaml_reader.h"
#include "tasks/evaluator.h"
#include "tasks/objectives.h"

namespace nos::cli {

namespace {

[[noreturn]] void bad_value(const std::string& where, const std::string& message) {
  throw UserError(where + ": " + message);
}

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

template <typename Int>
bool parse_integer(std::string_view text, Int& value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end && !text.empty();
}

}  // namespace

const std::vector<std::string>& eval_config_keys() {
  static const std::vector<std::string> keys = {
      "rule",    "task",     "steps",     "epochs",          "lr",         "lr_grid", "lr_search", "batch_size",
      "dtype",   "seed",     "device",    "threads",         "data_dir",   "cache_dir", "validation_size",
      "train_size", "augment", "schedule", "weight_decay", "weight_decay_mode", "weight_decay_mask", "clip_norm",
      "clip_value"};
  return keys;
}

std::string parse_lr_search(std::string_view text, const std::string& where) {
  for (const std::string& name : tasks::lr_search_names()) {
    if (text == name) return name;
  }
  throw UserError(where + ": expected full or halving, got '" + std::string(text) + "'");
}

int64_t parse_steps(std::string_view text, const std::string& where) {
  int64_t steps = 0;
  if (!parse_integer(text, steps) || steps < 1) {
    bad_value(where, "expected a whole number of steps >= 1, got " + quoted(text));
  }
  return steps;
}

double parse_lr(std::string_view text, const std::string& where) {
  double lr = 0.0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, lr);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(lr) || lr <= 0.0) {
    bad_value(where, "expected a finite learning rate > 0, got " + quoted(text));
  }
  return lr;
}

std::vector<double> parse_lr_grid(std::string_view text, const std::string& where) {
  std::vector<double> grid;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    double lr = 0.0;
    const char* end = item.data() + item.size();
    auto [ptr, ec] = std::from_chars(item.data(), end, lr);
    if (item.empty() || ec != std::errc() || ptr != end || !std::isfinite(lr) || lr <= 0.0) {
      bad_value(where, "expected learning rates > 0 separated by commas (e.g. 1e-4,1e-3,1e-2), got " + quoted(text));
    }
    grid.push_back(lr);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return grid;
}

int64_t parse_count(std::string_view text, const std::string& where, const std::string& what) {
  int64_t count = 0;
  if (!parse_integer(text, count) || count < 1) {
    bad_value(where, "expected " + what + " (a whole number >= 1), got " + quoted(text));
  }
  return count;
}

int parse_threads(std::string_view text, const std::string& where) {
  int threads = 0;
  if (!parse_integer(text, threads) || threads < 1 || threads > 1024) {
    bad_value(where, "expected a number of threads from 1 to 1024, got " + quoted(text));
  }
  return threads;
}

int parse_population(std::string_view text, const std::string& where) {
  if (text == "auto") return 0;
  int population = 0;
  if (!parse_integer(text, population) || population < 1 || population > 4096) {
    bad_value(where, "expected auto or a number of jobs per population from 1 to 4096, got " + quoted(text));
  }
  return population;
}

bool parse_bool(std::string_view text, const std::string& where) {
  for (const char* yes : {"true", "yes", "on", "1"}) {
    if (text == yes) return true;
  }
  for (const char* no : {"false", "no", "off", "0"}) {
    if (text == no) return false;
  }
  bad_value(where, "expected true or false, got " + quoted(text));
}

torch::Dtype parse_dtype(std::string_view text, const std::string& where) {
  if (text == "float32") return torch::kFloat32;
  if (text == "float64") return torch::kFloat64;
  bad_value(where, "unknown dtype " + quoted(text) + " (expected float32 or float64)");
}

uint64_t parse_seed(std::string_view text, const std::string& where) {
  uint64_t seed = 0;
  if (!parse_integer(text, seed)) {
    bad_value(where, "expected a seed in [0, 18446744073709551615], got " + quoted(text));
  }
  return seed;
}

torch::Device parse_device(std::string_view text, const std::string& where) {
  if (text == "cpu") return torch::kCPU;
  if (text == "cuda" || text.substr(0, 5) == "cuda:") {
    int64_t index = 0;
    if (text.size() > 5 && (!parse_integer(text.substr(5), index) || index < 0 || index > 255)) {
      bad_value(where, "bad device " + quoted(text) + " (expected cpu, cuda or cuda:N)");
    }
    if (!torch::cuda::is_available()) {
      bad_value(where, "device " + quoted(text) + " asked for, but CUDA is not available (this LibTorch has no "
                       "CUDA support, or no GPU is visible); use --device cpu");
    }
    if (index >= static_cast<int64_t>(torch::cuda::device_count())) {
      bad_value(where, "device " + quoted(text) + " does not exist (" + std::to_string(torch::cuda::device_count()) +
                           " CUDA devices visible)");
    }
    return text.size() > 5 ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index))
                           : torch::Device(torch::kCUDA);
  }
  bad_value(where, "unknown device " + quoted(text) + " (expected cpu, cuda or cuda:N)");
}

std::string parse_task(std::string_view text, const std::string& where) {
  try {
    return tasks::parse_task_name(text).name;
  } catch (const UserError& e) {
    bad_value(where, e.what());
  }
}

std::string dtype_name(torch::Dtype dtype) {
  NOS_CHECK(dtype == torch::kFloat32 || dtype == torch::kFloat64, "no name for dtype " << dtype);
  return dtype == torch::kFloat32 ? "float32" : "float64";
}

namespace {

// The config file's keys, for its messages: "rule, task, ...".
std::string eval_key_list() {
  std::string keys;
  for (const std::string& k : eval_config_keys()) keys += (keys.empty() ? "" : ", ") + k;
  return keys;
}

// A key with one scalar value (not lr_grid's list, not a recipe key), checked and set.
void set_eval_scalar(EvalConfig& config, const std::string& key, const std::string& scalar, const std::string& where) {
  if (key == "rule") {
    if (scalar.empty()) bad_value(where, "expected a rule name or DSL text");
    config.rule = scalar;
    config.rule_origin = where;
  } else if (key == "task") {
    config.task = parse_task(scalar, where);
  } else if (key == "steps") {
    config.steps = parse_steps(scalar, where);
  } else if (key == "epochs") {
    config.epochs = parse_count(scalar, where, "a number of epochs");
  } else if (key == "lr") {
    config.lr = parse_lr(scalar, where);
  } else if (key == "lr_grid") {
    config.lr_grid = parse_lr_grid(scalar, where);
  } else if (key == "lr_search") {
    config.lr_search = parse_lr_search(scalar, where);
  } else if (key == "batch_size") {
    config.batch_size = parse_count(scalar, where, "a batch size");
  } else if (key == "dtype") {
    config.dtype = parse_dtype(scalar, where);
  } else if (key == "seed") {
    config.seed = parse_seed(scalar, where);
  } else if (key == "device") {
    config.device = parse_device(scalar, where);
  } else if (key == "threads") {
    config.threads = parse_threads(scalar, where);
  } else if (key == "data_dir") {
    if (scalar.empty()) bad_value(where, "expected a directory");
    config.data_dir = scalar;
  } else if (key == "cache_dir") {
    if (scalar.empty()) bad_value(where, "expected a directory");
    config.cache_dir = scalar;
  } else if (key == "validation_size") {
    config.validation_size = parse_count(scalar, where, "a number of validation images");
  } else if (key == "train_size") {
    config.train_size = parse_count(scalar, where, "a number of training images");
  } else if (key == "augment") {
    config.augment = parse_bool(scalar, where);
  }
}

}  // namespace

void load_eval_config(const std::string& path, EvalConfig& config) {
  std::ifstream file(path);
  if (!file) throw UserError(path + ": cannot open the config file (does it exist and is it readable?)");
  std::stringstream text;
  text << file.rdbuf();
  if (file.bad()) throw UserError(path + ": cannot read the config file");

  const YAML::Node root = load_yaml(text.str(), path);
  if (root.IsNull()) return;  // an empty file sets nothing
  if (!root.IsMap()) {
    throw UserError(path + ": expected a mapping of keys (" + eval_key_list() + ") at the top");
  }

  for (const auto& entry : root) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : std::string("?");
    const std::string where = path + ": key '" + key + "'";
    bool known = false;
    for (const std::string& k : eval_config_keys()) known = known || k == key;
    if (!known) {
      throw UserError(where + ": unknown key (known keys: " + eval_key_list() + ")");
    }
    const YAML::Node& value = entry.second;
    config.origins[key] = where;
    if (key == "lr_grid" && value.IsSequence()) {
      std::string joined;
      for (const YAML::Node& item : value) {
        if (!item.IsScalar()) bad_value(where, "expected a list of learning rates");
        joined += (joined.empty() ? "" : ",") + item.Scalar();
      }
      if (joined.empty()) bad_value(where, "expected at least one learning rate");
      config.lr_grid = parse_lr_grid(joined, where);
      continue;
    }
    const std::vector<std::string>& recipe = tasks::recipe_keys();
    if (std::find(recipe.begin(), recipe.end(), key) != recipe.end()) {
      static const std::map<std::string, std::vector<std::string>> kNoSections;
      const YamlReader reader(path, kNoSections);
      reader.at_node(value, key, [&] {
        tasks::set_recipe_key(config.recipe, key, reader.options_text(value, key), "value");
      });
      continue;
    }
    if (!value.IsScalar()) bad_value(where, value.IsNull() ? "has no value" : "expected a single value");
    set_eval_scalar(config, key, value.Scalar(), where);
  }
}

}  // namespace nos::cli
