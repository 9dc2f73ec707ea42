// JSON, the one way every module writes and reads it: JsonObject builds an object (the CLI's --json output, the
// worker protocol, the comparison journal), JsonValue is a parsed document (the worker protocol, the journal).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json_text.h"

namespace nos {

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
  // `json` as it is: a value already written (an encoded record, an array).
  JsonObject& add_raw(std::string_view key, const std::string& json);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

// A parsed JSON document: null, a boolean, a number (its text as written, so integers read back exactly), a string,
// an array or an object (its fields in order).
struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = Kind::kNull;
  bool boolean = false;
  std::string text;  // a string's value, or a number's text as written
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> fields;

  // The field `key` of an object, or nullptr.
  const JsonValue* get(const std::string& key) const;
};

// Parses one JSON document (nested at most 32 deep); nos::InternalError naming `what` and the byte on bad text.
JsonValue parse_json(const std::string& text, const std::string& what);

}  // namespace nos
