// The tiny JSON writer: objects built key by key (escaping and numbers from search/json_text.h).
#include "cli/json.h"

namespace nos::cli {

JsonObject& JsonObject::add_raw(std::string_view key, const std::string& json) {
  if (!body_.empty()) body_ += ",";
  body_ += json_string(key);
  body_ += ":";
  body_ += json;
  return *this;
}

JsonObject& JsonObject::add_string(std::string_view key, std::string_view value) {
  return add_raw(key, json_string(value));
}

JsonObject& JsonObject::add_number(std::string_view key, double value) { return add_raw(key, json_number(value)); }

JsonObject& JsonObject::add_int(std::string_view key, int64_t value) { return add_raw(key, std::to_string(value)); }

JsonObject& JsonObject::add_uint(std::string_view key, uint64_t value) { return add_raw(key, std::to_string(value)); }

JsonObject& JsonObject::add_bool(std::string_view key, bool value) { return add_raw(key, value ? "true" : "false"); }

JsonObject& JsonObject::add_numbers(std::string_view key, const std::vector<double>& values) {
  std::string json = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) json += ",";
    json += json_number(values[i]);
  }
  json += "]";
  return add_raw(key, json);
}

JsonObject& JsonObject::add_objects(std::string_view key, const std::vector<JsonObject>& values) {
  std::string json = "[";
  for (size_t i = 0; i < values.size(); ++i) json += (i ? "," : "") + values[i].str();
  return add_raw(key, json + "]");
}

JsonObject& JsonObject::add_object(std::string_view key, const JsonObject& value) { return add_raw(key, value.str()); }

}  // namespace nos::cli
