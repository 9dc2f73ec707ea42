// A tiny JSON writer for the CLI's machine-readable output: objects of strings, numbers, arrays and objects.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_text.h"

namespace nos::cli {

// Builds one JSON object, keys in insertion order: {"rule":"powersign","steps":100}.
class JsonObject {
 public:
  JsonObject& add_string(std::string_view key, std::string_view value);
  JsonObject& add_number(std::string_view key, double value);
  JsonObject& add_int(std::string_view key, int64_t value);
  JsonObject& add_uint(std::string_view key, uint64_t value);
  JsonObject& add_bool(std::string_view key, bool value);
  JsonObject& add_numbers(std::string_view key, const std::vector<double>& values);
  JsonObject& add_objects(std::string_view key, const std::vector<JsonObject>& values);
  JsonObject& add_object(std::string_view key, const JsonObject& value);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  JsonObject& add_raw(std::string_view key, const std::string& json);
  std::string body_;
};

}  // namespace nos::cli
