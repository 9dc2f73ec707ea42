// Internal to dsl/: a Diagnostic placed at a byte range of a rule's text (shared by the infix and token readers).
#pragma once

#include <string>
#include <string_view>

#include "dsl/error.h"

namespace nos::dsl {

// The diagnostic `code`/`message` for bytes [begin, end) of `text`: its 1-based line and column (bytes), and the
// number of columns to underline (at least 1, so a place past the end still gets a caret).
Diagnostic diagnostic_at(std::string_view text, int begin, int end, const char* code, std::string message);

}  // namespace nos::dsl
