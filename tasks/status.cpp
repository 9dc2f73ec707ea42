#include "tasks/status.h"

#include "common/error.h"

namespace nos::tasks {

const char* status_text(Status status) {
  switch (status) {
    case Status::kOk: return "ok";
    case Status::kHurdle: return "hurdle";
    case Status::kDiverged: return "diverged";
    case Status::kTimeout: return "timeout";
    case Status::kInvalid: return "invalid";
    case Status::kCrashed: return "crashed";
    case Status::kError: return "error";
    case Status::kRejected: return "rejected";
    case Status::kHalved: return "halved";
    case Status::kUnchosen: return "unchosen";
      // No default: a new status fails the build here (-Werror=switch).
  }
  NOS_CHECK(false, "status " << static_cast<int>(status) << " is out of range");
  return "";
}

std::optional<Status> find_status(std::string_view text) {
  for (int i = 0; i <= static_cast<int>(Status::kUnchosen); ++i) {
    if (text == status_text(static_cast<Status>(i))) return static_cast<Status>(i);
  }
  return std::nullopt;
}

Status parse_status(std::string_view text) {
  if (const std::optional<Status> s = find_status(text)) return *s;
  throw InternalError("unknown child status '" + std::string(text) + "'");
}

Status stored_status(std::string_view text, const std::string& where) {
  if (const std::optional<Status> s = find_status(text)) return *s;
  throw UserError(where + " holds status '" + std::string(text) +
                  "', which no nos writes (a damaged or edited file)");
}

std::ostream& operator<<(std::ostream& out, Status status) { return out << status_text(status); }

}  // namespace nos::tasks
