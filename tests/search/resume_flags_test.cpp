// What a resume may change, decided in search (search::check_resume_flags) and used by `nos search --resume`.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "search/search.h"

namespace nos::search {
namespace {

std::string refusal(const std::vector<std::string>& flags) {
  try {
    check_resume_flags(flags);
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(ResumeFlags, TheBudgetWorkersPopulationAndCacheMayChange) {
  EXPECT_EQ(refusal({}), "");
  EXPECT_EQ(refusal({"--workers", "--budget", "--population", "--fec-cache"}), "");
}

TEST(ResumeFlags, EverythingElseIsRefusedWithItsReasonFirstFlagFirst) {
  EXPECT_EQ(refusal({"--config", "--seed"}),
            "--config and --resume do not go together: a run keeps its recorded config");
  EXPECT_EQ(refusal({"--workers", "--run-dir"}),
            "--run-dir and --resume do not go together: --resume names the run folder");
  EXPECT_EQ(refusal({"--seed"}),
            "--seed cannot change on --resume: the stored rules were proposed with the recorded seed");
  EXPECT_EQ(refusal({"--schedule"}),
            "--schedule cannot change on --resume: the stored children were trained with the recorded task settings");
}

}  // namespace
}  // namespace nos::search
