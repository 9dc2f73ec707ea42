// CSV cells of the report files: quoted text (RFC 4180) and numbers that read back exactly.
#pragma once

#include <string>

namespace nos::experiments {

// RFC 4180: a field with a comma, quote, CR or LF is quoted, its quotes doubled.
std::string csv_field(const std::string& text);

// The shortest text that reads back as the same double (std::to_chars: "1e-04", "0.8754"); "" for NaN and ±inf,
// an empty cell.
std::string csv_number(double x);

}  // namespace nos::experiments
