// Formatting of internal-check failures.
#include "common/error.h"

#include <sstream>

namespace nos {
namespace detail {
void fail_check(const char* condition, const char* file, int line, const std::string& message) {
  std::ostringstream out;
  out << "internal error (a bug in nos): " << file << ":" << line << ": invariant '" << condition << "' failed";
  if (!message.empty()) out << ": " << message;
  throw InternalError(out.str());
}
}  // namespace detail
}  // namespace nos
