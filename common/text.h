// Text formatting every module shares: numbers that read back exactly, fixed decimals, durations, lists and shell
// quoting.
#pragma once

#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace nos {

// A missing number (an accuracy never measured, a mean over no seeds): printed as "-", written as "nan" or null.
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// `text` without leading and trailing spaces, tabs, carriage returns and newlines.
std::string trim(std::string_view text);

// The shortest text that reads back as the same double: plain decimals for everyday magnitudes (0.0001, 1500),
// exponents outside them (1e-05, 1e+20); "nan", "inf", "-inf"; "0" for ±0.
std::string format_number(double x);

// `x` with `digits` decimals ("0.8125"); `non_finite` for NaN and ±inf.
std::string fixed(double x, int digits, std::string_view non_finite = "-");

// "1h02m", "3m07s", "12s" (negative times read as 0; NaN or ±inf as "?").
std::string duration(double seconds);

// "a, b, c".
std::string joined(const std::vector<std::string>& items);

// "a, b or c" (a list of choices in prose).
std::string joined_or(const std::vector<std::string>& items);

// `text` in single quotes for a POSIX shell ('it'\''s').
std::string shell_quote(std::string_view text);

// Levenshtein distance between two names (insertions, deletions and substitutions of one byte each).
int edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `name` within `max_distance` edits (the first of equals), or "" (for "did you mean").
std::string closest_name(std::string_view name, const std::vector<std::string_view>& candidates,
                         int max_distance = 2);

}  // namespace nos
