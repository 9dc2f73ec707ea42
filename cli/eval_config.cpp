// `nos eval`'s settings: its defaults, its keys, the YAML config file onto EvalConfig, and the device's check.
#include "cli/eval_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/parse.h"
#include "common/yaml_reader.h"
#include "tasks/settings_yaml.h"

namespace nos::cli {

EvalConfig::EvalConfig() {
  task = "rosenbrock";
  epochs = kDefaultEpochs;
  threads = 0;
}

const std::vector<std::string>& eval_setting_keys() {
  static const std::vector<std::string> keys = tasks::setting_keys_in(tasks::kEval);
  return keys;
}

const std::vector<std::string>& eval_config_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out = {"rule"};
    for (const std::string& key : eval_setting_keys()) out.push_back(key);
    return out;
  }();
  return keys;
}

void load_eval_config(const std::string& path, EvalConfig& config) {
  std::ifstream file(path);
  if (!file) throw UserError(path + ": cannot open the config file (does it exist and is it readable?)");
  std::stringstream text;
  text << file.rdbuf();
  if (file.bad()) throw UserError(path + ": cannot read the config file");

  const YAML::Node root = load_yaml(text.str(), path);
  if (root.IsNull()) return;  // an empty file sets nothing
  static const std::map<std::string, std::vector<std::string>> kSections = {{"", eval_config_keys()}};
  const YamlReader reader(path, kSections);
  // Every key but the rule is a row of the field table, read as every config reads it.
  reader.each_key(root, "", [&](const std::string& key, const YAML::Node& value, const std::string& key_path) {
    const std::string place = reader.place(value, key_path);
    if (key == "rule") {
      if (reader.scalar(value, key_path).empty()) reader.fail(value, key_path, "expected a rule name or DSL text");
      config.rule = value.Scalar();
      config.rule_origin = place;
      return;
    }
    tasks::read_setting(reader, key, value, key_path, config);
    config.origins[key] = place;
  });
}

torch::Device parse_device(std::string_view text, const std::string& where) {
  const std::string quoted = "'" + std::string(text) + "'";
  if (text == "cpu") return torch::kCPU;
  if (text != "cuda" && text.substr(0, 5) != "cuda:") {
    throw UserError(where + ": unknown device " + quoted + " (expected cpu, cuda or cuda:N)");
  }
  int index = 0;
  if (text.size() > 5) {
    try {
      index = parse_whole<int>(std::string(text.substr(5)), 0, 255);
    } catch (const UserError&) {
      throw UserError(where + ": bad device " + quoted + " (expected cpu, cuda or cuda:N)");
    }
  }
  if (!torch::cuda::is_available()) {
    throw UserError(where + ": device " + quoted + " asked for, but CUDA is not available (this LibTorch has no "
                    "CUDA support, or no GPU is visible); use --device cpu");
  }
  if (index >= static_cast<int>(torch::cuda::device_count())) {
    throw UserError(where + ": device " + quoted + " does not exist (" + std::to_string(torch::cuda::device_count()) +
                    " CUDA devices visible)");
  }
  return text.size() > 5 ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index))
                         : torch::Device(torch::kCUDA);
}

}  // namespace nos::cli
