// The training settings in YAML (header-only: its users link yaml-cpp): reading a key of the field table from a
// node, with the source, line and key path in every message, and writing keys back.
#pragma once

#include <string>
#include <vector>

#include "common/yaml_reader.h"
#include "tasks/settings.h"

namespace nos::tasks {

// Reads the value of training setting `key` at `node` (key path `path`) into `settings`: a scalar, a list ([a, b])
// where the row takes one (SettingField::list), or for the schedule a mapping ({name: cosine, warmup: 0.05}). A null
// value is "" for a text setting (data_dir), else "has no value".
inline void read_setting(const YamlReader& r, const std::string& key, const YAML::Node& node, const std::string& path,
                         TrainingSettings& settings) {
  const SettingField& f = setting_field(key);
  std::string text;
  if (node.IsSequence() && !f.list) r.fail(node, path, "expected a single value");
  if (node.IsSequence()) {
    text = "[";
    for (size_t i = 0; i < node.size(); ++i) {
      text += (i ? ", " : "") + r.scalar(node[i], path + "[" + std::to_string(i) + "]");
    }
    text += "]";
  } else if (!(node.IsNull() && f.quoted)) {
    text = r.options_text(node, path);
  }
  try {
    set_setting(settings, key, text);
  } catch (const UserError& e) {
    // A list's message names the element at fault where one alone is refused: "lr_grid[1]".
    for (size_t i = 0; node.IsSequence() && i < node.size(); ++i) {
      TrainingSettings scratch;
      r.at_node(node[i], path + "[" + std::to_string(i) + "]", [&] { set_setting(scratch, key, node[i].Scalar()); });
    }
    r.fail(node, path, e.what());
  }
}

// "INDENT yaml_key: value\n" for each key of `keys` (a training setting's key, or "yaml_key=key" where the YAML key
// differs: "name=task"), leaving out a key written only when set at its default.
inline std::string settings_yaml(const TrainingSettings& settings, const std::vector<std::string>& keys,
                                 const std::string& indent) {
  std::string out;
  for (const std::string& entry : keys) {
    const size_t eq = entry.find('=');
    const std::string yaml_key = entry.substr(0, eq);
    const std::string key = eq == std::string::npos ? entry : entry.substr(eq + 1);
    const std::string value = setting_yaml(settings, key);
    if (value.empty() && setting_field(key).when_set) continue;
    out += indent + yaml_key + ": " + value + "\n";
  }
  return out;
}

}  // namespace nos::tasks
