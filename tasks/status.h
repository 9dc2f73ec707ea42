// How a child ended, one value per outcome. Its text ("ok", "diverged", …) exists only where a record leaves the
// process or is shown: the worker protocol (dispatch/wire), the store, the journal, reports and printed tables.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace nos::tasks {

enum class Status {
  kOk,        // trained to the end: reward = validation accuracy
  kHurdle,    // stopped at its hurdle point below the hurdle: reward = the accuracy there
  kDiverged,  // the loss became non-finite or exploded (every lr of a grid did): reward 0
  kTimeout,   // past its time limit: reward 0
  kInvalid,   // the rule cannot run (does not parse, or LibTorch cannot execute it)
  kCrashed,   // its worker process died (a bug in nos, not a low reward)
  kError,     // the evaluator refused the request (a bad config, missing data)
  kRejected,  // the search's prefilter rejected it before training
  kHalved,    // an lr trial successive halving dropped
  kUnchosen,  // a population's grid lane that lost the lr choice (never leaves the population)
};

// "ok", "hurdle", "diverged", "timeout", "invalid", "crashed", "error", "rejected", "halved", "unchosen".
const char* status_text(Status status);
// The status written as `text`, or nullopt for any other text.
std::optional<Status> find_status(std::string_view text);
// The status written as `text`; nos::InternalError for any other text (a worker protocol line nos did not write).
Status parse_status(std::string_view text);
// A status read from a file a user holds (a run's store, an equivalence cache): nos::UserError naming `where` for
// any other text (a damaged or hand-edited file).
Status stored_status(std::string_view text, const std::string& where);
std::ostream& operator<<(std::ostream& out, Status status);

}  // namespace nos::tasks
