// Two of the three kinds of failure, for every module: user errors (UserError) and broken invariants (NOS_CHECK).
// The third, a candidate rule that misbehaves, is a result (a status and reward 0), never an exception.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

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
