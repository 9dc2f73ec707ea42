// CSV cells: RFC 4180 quoting and shortest round-trip numbers (the report CSVs must rewrite byte for byte).
#include "experiments/csv.h"

#include <charconv>
#include <cmath>

namespace nos::experiments {

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_number(double x) {
  if (!std::isfinite(x)) return "";
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, x);
  return std::string(buffer, end);
}

}  // namespace nos::experiments
