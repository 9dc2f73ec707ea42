// tasks::Status: each value's text reads back as it (the worker protocol, the store and the journal depend on it);
// unknown text is an internal error from the wire and a user error naming its place from a user's file.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "common/error.h"
#include "tasks/status.h"

namespace nos::tasks {
namespace {

TEST(Status, EveryValueHasItsOwnTextThatReadsBack) {
  std::set<std::string> texts;
  for (int i = 0; i <= static_cast<int>(Status::kUnchosen); ++i) {
    const Status s = static_cast<Status>(i);
    texts.insert(status_text(s));
    EXPECT_EQ(parse_status(status_text(s)), s);
    std::ostringstream printed;
    printed << s;
    EXPECT_EQ(printed.str(), status_text(s));
  }
  EXPECT_EQ(texts.size(), 10u);
  // The texts records have always carried (committed journals and stores hold them).
  EXPECT_EQ(std::string(status_text(Status::kOk)), "ok");
  EXPECT_EQ(std::string(status_text(Status::kHurdle)), "hurdle");
  EXPECT_EQ(std::string(status_text(Status::kDiverged)), "diverged");
  EXPECT_EQ(std::string(status_text(Status::kTimeout)), "timeout");
  EXPECT_EQ(std::string(status_text(Status::kCrashed)), "crashed");
  EXPECT_FALSE(find_status("OK").has_value());
  EXPECT_THROW(parse_status("great"), InternalError);
  try {
    stored_status("great", "evaluation 7");
    FAIL() << "an unknown stored status was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("evaluation 7 holds status 'great'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nos::tasks
