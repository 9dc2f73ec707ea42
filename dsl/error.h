// Diagnostics of rule text: RuleError, a UserError carrying every problem found in a rule with its place and code.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace nos::dsl {

// One problem found in a rule's text, at a 1-based line and column, with a stable code (E001...).
struct Diagnostic {
  std::string code;     // "E012"
  std::string message;  // "unknown function 'expp' (did you mean 'exp'?)"
  int line = 1;
  int column = 1;       // 1-based, in bytes
  int length = 1;       // how many columns the caret line underlines
};

// Formats diagnostics the way compilers do:
//   rule:1:14: error[E012]: unknown function 'expp' (did you mean 'exp'?)
//     exp(g)*expp(m)
//                ^~~~
std::string format_diagnostics(const std::vector<Diagnostic>& diagnostics, std::string_view source,
                               std::string_view source_name);

// A rule that does not parse or check: every diagnostic found in one pass.
class RuleError : public UserError {
 public:
  RuleError(std::vector<Diagnostic> diagnostics, std::string source, std::string source_name);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }
  const std::string& source() const { return source_; }

 private:
  std::vector<Diagnostic> diagnostics_;
  std::string source_;
};

}  // namespace nos::dsl
