// Values from text, for config keys and flags alike: whole numbers, finite numbers, booleans, choices and lists of
// numbers. A bad value is a UserError "expected …, got '…'" without a place; the caller puts the flag or the key in
// front (parsed_at, YamlReader).
#pragma once

#include <charconv>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

#include "common/error.h"

namespace nos {

namespace detail {
// "expected `also`a whole number in [min, max], got 'text'" (">= min" when max is the type's largest value).
[[noreturn]] void not_whole(const std::string& text, const std::string& min, const std::string& max, bool unbounded,
                            const std::string& also);
}  // namespace detail

// A whole number in [min, max] ("expected a whole number in [1, 4096], got 'x'"; "expected a whole number >= 1, got
// 'x'" when max is the type's largest value).
template <typename Int>
Int parse_whole(const std::string& text, Int min, Int max = std::numeric_limits<Int>::max(),
                const std::string& also = "") {
  Int value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    detail::not_whole(text, std::to_string(min), std::to_string(max), max == std::numeric_limits<Int>::max(), also);
  }
  return value;
}

// `auto` (read as 0) or a whole number in [min, max] (min >= 1): "expected auto or a whole number in [1, 4096], …".
template <typename Int>
Int parse_whole_or_auto(const std::string& text, Int min, Int max = std::numeric_limits<Int>::max()) {
  return text == "auto" ? Int{0} : parse_whole<Int>(text, min, max, "auto or ");
}

// A finite number >= min (> min when `min_inclusive` is false): "expected a finite number, got 'x'", "must be > 0,
// got '0'".
double parse_number(const std::string& text, double min, bool min_inclusive = true);

// true, yes, on, 1 or false, no, off, 0: "expected true or false, got 'x'".
bool parse_bool(const std::string& text);

// One of `allowed`, as written: "expected one of float32, float64, got 'half'".
std::string parse_choice(const std::string& text, const std::vector<std::string>& allowed);

// The items of a comma-separated list ("a,b" or "[a, b]"), each trimmed: "expected a comma-separated list of
// `what`, got '…'" for an empty list or an empty item.
std::vector<std::string> parse_list(const std::string& text, const std::string& what);

// parse_list, each item read by `item` (which may throw its own UserError, naming the item).
template <typename F>
auto parse_list(const std::string& text, const std::string& what, F item) {
  std::vector<decltype(item(std::string()))> out;
  for (const std::string& i : parse_list(text, what)) out.push_back(item(i));
  return out;
}

// A non-empty list of numbers > 0, as "[a, b]" or "a,b": "expected a non-empty list of numbers > 0, got '…'".
std::vector<double> parse_positive_numbers(const std::string& text);

// f(), with `where` and ": " in front of the message of a UserError it throws ("--steps: expected …").
template <typename F>
auto parsed_at(const std::string& where, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const UserError& e) {
    throw UserError(where + ": " + e.what());
  }
}

}  // namespace nos
