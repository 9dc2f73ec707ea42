// The three kinds of failure: user errors (UserError, RuleError with diagnostics) and broken invariants (NOS_CHECK).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nos {

// A mistake the user can fix (bad rule, bad config key or value, missing or corrupt file). The message names the
// thing, its place and what to do. Caught once, in main: printed to stderr, exit code 2.
class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& message) : std::runtime_error(message) {}
};

// A bug in nos: an invariant that must hold did not.
class InternalError : public std::logic_error {
 public:
  explicit InternalError(const std::string& message) : std::logic_error(message) {}
};

namespace detail {
[[noreturn]] void fail_check(const char* condition, const char* file, int line, const std::string& message);
}  // namespace detail

}  // namespace nos

// Asserts an invariant of nos itself (never a user mistake): throws InternalError naming it.
#define NOS_CHECK(cond, ...)                                                          \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::ostringstream nos_check_stream_;                                           \
      nos_check_stream_ << "" __VA_ARGS__;                                            \
      ::nos::detail::fail_check(#cond, __FILE__, __LINE__, nos_check_stream_.str());  \
    }                                                                                 \
  } while (false)

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
