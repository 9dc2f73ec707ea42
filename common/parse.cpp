// Values from text (parse.h): the parsers every config key and flag reads through.
#include "common/parse.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/text.h"

namespace nos {

namespace detail {

void not_whole(const std::string& text, const std::string& min, const std::string& max, bool unbounded,
               const std::string& also) {
  const std::string range = unbounded ? ">= " + min : "in [" + min + ", " + max + "]";
  throw UserError("expected " + also + "a whole number " + range + ", got '" + text + "'");
}

}  // namespace detail

double parse_number(const std::string& text, double min, bool min_inclusive) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) {
    throw UserError("expected a finite number, got '" + text + "'");
  }
  if (min_inclusive ? value < min : value <= min) {
    throw UserError("must be " + std::string(min_inclusive ? ">= " : "> ") + format_number(min) + ", got '" + text +
                    "'");
  }
  return value;
}

bool parse_bool(const std::string& text) {
  if (text == "true" || text == "yes" || text == "on" || text == "1") return true;
  if (text == "false" || text == "no" || text == "off" || text == "0") return false;
  throw UserError("expected true or false, got '" + text + "'");
}

std::string parse_choice(const std::string& text, const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), text) != allowed.end()) return text;
  throw UserError("expected one of " + joined(allowed) + ", got '" + text + "'");
}

std::vector<std::string> parse_list(const std::string& text, const std::string& what) {
  const std::string not_a_list = "expected a comma-separated list of " + what + ", got '" + text + "'";
  std::string inner = trim(text);
  if (inner.size() >= 2 && inner.front() == '[' && inner.back() == ']') inner = inner.substr(1, inner.size() - 2);
  std::vector<std::string> out;
  std::stringstream items(inner);
  for (std::string item; std::getline(items, item, ',');) {
    out.push_back(trim(item));
    if (out.back().empty()) throw UserError(not_a_list);
  }
  // "1e-3," ends in an empty item that getline does not return.
  if (out.empty() || trim(inner).back() == ',') throw UserError(not_a_list);
  return out;
}

std::vector<double> parse_positive_numbers(const std::string& text) {
  const std::string not_a_list = "expected a non-empty list of numbers > 0, got '" + text + "'";
  try {
    return parse_list(text, "numbers", [](const std::string& item) { return parse_number(item, 0, false); });
  } catch (const UserError&) {
    throw UserError(not_a_list);
  }
}

}  // namespace nos
