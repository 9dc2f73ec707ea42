// Reading YAML configs with the key path and line in every message, and writing values back: shared by every
// config (search jobs, comparisons, eval configs). Header-only; its users link yaml-cpp.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/parse.h"
#include "common/text.h"

namespace nos {

// Parses one YAML document; a syntax error is a UserError naming the source, line and column.
inline YAML::Node load_yaml(const std::string& yaml_text, const std::string& source) {
  try {
    return YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw UserError(source + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                    ": invalid YAML: " + e.msg);
  }
}

// Reads one YAML document, naming the source, line and key path of every mistake.
class YamlReader {
 public:
  // `sections` maps each section ("" for the top level) to its known keys; it must outlive the reader.
  YamlReader(std::string source, const std::map<std::string, std::vector<std::string>>& sections)
      : source_(std::move(source)), sections_(sections) {}

  // Where `node` is, for messages: "FILE:LINE: key 'path'" (no line for a node that is not in the file).
  std::string place(const YAML::Node& node, const std::string& path) const {
    std::string out = source_;
    if (node.IsDefined() && node.Mark().line >= 0) out += ":" + std::to_string(node.Mark().line + 1);
    return out + ": key '" + path + "'";
  }

  [[noreturn]] void fail(const YAML::Node& node, const std::string& path, const std::string& message) const {
    throw UserError(place(node, path) + ": " + message);
  }

  const std::string& scalar(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar()) fail(node, path, node.IsNull() ? "has no value" : "expected a single value");
    return node.Scalar();
  }

  template <typename Int>
  Int integer(const YAML::Node& node, const std::string& path, Int min, Int max) const {
    return value_at(node, path, [&](const std::string& text) { return parse_whole<Int>(text, min, max); });
  }

  // `auto` (read as 0) or a whole number in [min, max] (min >= 1).
  template <typename Int>
  Int integer_or_auto(const YAML::Node& node, const std::string& path, Int min, Int max) const {
    return value_at(node, path, [&](const std::string& text) { return parse_whole_or_auto<Int>(text, min, max); });
  }

  double number(const YAML::Node& node, const std::string& path, double min, bool min_inclusive = true) const {
    return value_at(node, path, [&](const std::string& text) { return parse_number(text, min, min_inclusive); });
  }

  bool boolean(const YAML::Node& node, const std::string& path) const {
    return value_at(node, path, [](const std::string& text) { return parse_bool(text); });
  }

  std::string choice(const YAML::Node& node, const std::string& path, const std::vector<std::string>& allowed) const {
    return value_at(node, path, [&](const std::string& text) { return parse_choice(text, allowed); });
  }

  std::vector<std::string> strings(const YAML::Node& node, const std::string& path) const {
    if (!node.IsSequence()) fail(node, path, "expected a list, e.g. [a, b]");
    std::vector<std::string> out;
    for (size_t i = 0; i < node.size(); ++i) {
      out.push_back(scalar(node[i], path + "[" + std::to_string(i) + "]"));
      if (out.back().empty()) fail(node[i], path + "[" + std::to_string(i) + "]", "is empty");
    }
    return out;
  }

  std::vector<double> positive_numbers(const YAML::Node& node, const std::string& path) const {
    if (!node.IsSequence() || node.size() == 0) fail(node, path, "expected a non-empty list of numbers > 0");
    std::vector<double> out;
    for (size_t i = 0; i < node.size(); ++i) {
      out.push_back(number(node[i], path + "[" + std::to_string(i) + "]", 0, false));
    }
    return out;
  }

  // Calls `on_key(key, value, path)` for every key of the mapping `node` (the section `section`), after checking
  // that the key is known there.
  template <typename F>
  void each_key(const YAML::Node& node, const std::string& section, F on_key, const std::string& at = "") const {
    const std::vector<std::string>& known = sections_.at(section);
    // Where the mapping is, in messages and key paths: `at` (an entry of a list: "funnel[1]"), else the section.
    const std::string where = at.empty() ? section : at;
    if (!node.IsMap()) {
      if (where.empty()) {
        throw UserError(source_ + ": expected a mapping of keys (" + joined(known) + ") at the top");
      }
      fail(node, where, "expected a mapping of keys (" + joined(known) + ")");
    }
    for (const auto& entry : node) {
      const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : std::string("?");
      const std::string path = where.empty() ? key : where + "." + key;
      bool found = false;
      for (const std::string& k : known) found = found || k == key;
      if (!found) {
        fail(entry.first, path, "unknown key (known keys" + (where.empty() ? "" : " of '" + where + "'") +
                                    ": " + joined(known) + ")");
      }
      on_key(key, entry.second, path);
    }
  }

  // A setting with a flag form "NAME,KEY=VALUE,...": a scalar as it is, or a mapping {name: NAME, KEY: VALUE, ...}
  // written in that form (e.g. schedule: {name: cosine, warmup: 0.05} → "cosine,warmup=0.05").
  std::string options_text(const YAML::Node& node, const std::string& path) const {
    if (!node.IsMap()) return scalar(node, path);
    if (!node["name"]) fail(node, path, "a mapping here needs a 'name' (e.g. {name: cosine, warmup: 0.05})");
    std::string out = scalar(node["name"], path + ".name");
    for (const auto& entry : node) {
      const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : std::string("?");
      if (key != "name") out += "," + key + "=" + scalar(entry.second, path + "." + key);
    }
    return out;
  }

  // Runs f(); a UserError from it is rethrown with the source, the node's line and the key path in front (for
  // values checked by a parser that knows nothing of YAML).
  template <typename F>
  void at_node(const YAML::Node& node, const std::string& path, F f) const {
    try {
      f();
    } catch (const UserError& e) {
      fail(node, path, e.what());
    }
  }

  const std::string& source() const { return source_; }

 private:
  // parse(the scalar at `node`), a UserError from it with the source, line and key path in front.
  template <typename Parse>
  auto value_at(const YAML::Node& node, const std::string& path, Parse parse) const
      -> decltype(parse(std::string())) {
    const std::string& text = scalar(node, path);
    try {
      return parse(text);
    } catch (const UserError& e) {
      fail(node, path, e.what());
    }
  }

  std::string source_;
  const std::map<std::string, std::vector<std::string>>& sections_;
};

inline std::string yaml_quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

inline std::string yaml_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + yaml_quoted(items[i]);
  return out + "]";
}

inline std::string yaml_list(const std::vector<double>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + format_number(items[i]);
  return out + "]";
}

}  // namespace nos
