// JSON text: the two pieces every JSON writer here needs (search's worker protocol, the CLI's --json output).
#pragma once

#include <string>
#include <string_view>

namespace nos {

// `text` as a quoted JSON string: ", \ and control characters escaped; invalid UTF-8 bytes become U+FFFD.
std::string json_string(std::string_view text);

// A number in the shortest form that reads back as the same double; NaN and ±inf (not JSON) become null.
std::string json_number(double value);

}  // namespace nos
