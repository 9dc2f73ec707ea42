// Tests of choose_lr, the one lr choice of every grid protocol: best score of the ok trials, ties to the smaller lr.
#include <gtest/gtest.h>

#include <cmath>

#include "tasks/lr_choice.h"

namespace nos::tasks {
namespace {

TEST(ChooseLr, TakesBestValidationTiesToSmallerDivergedWorst) {
  EXPECT_EQ(choose_lr({{0.1, Status::kOk, 0.7}, {0.01, Status::kOk, 0.9}, {0.001, Status::kOk, 0.8}}), 0.01);
  EXPECT_EQ(choose_lr({{0.1, Status::kOk, 0.9}, {0.01, Status::kOk, 0.9}, {1, Status::kOk, 0.9}}), 0.01);
  EXPECT_EQ(choose_lr({{1, Status::kDiverged, 0.99}, {0.1, Status::kOk, 0.2}}), 0.1);
  EXPECT_EQ(choose_lr({{0.5, Status::kOk, std::nan("")}, {0.1, Status::kOk, 0.1}}), 0.1);
  EXPECT_TRUE(std::isnan(choose_lr({{1, Status::kDiverged, 0}, {0.1, Status::kTimeout, 0.5}})));
  EXPECT_TRUE(std::isnan(choose_lr({})));
}

TEST(ChooseLr, TheChoiceDoesNotDependOnTheGridOrder) {
  EXPECT_EQ(choose_lr({{0.001, Status::kOk, 0.9}, {0.01, Status::kOk, 0.9}}), 0.001);
  EXPECT_EQ(choose_lr({{0.01, Status::kOk, 0.9}, {0.001, Status::kOk, 0.9}}), 0.001);
  // A score of 0 (e.g. an analytic task's reward far from the optimum) still counts when the trial is ok.
  EXPECT_EQ(choose_lr({{0.1, Status::kDiverged, 0.5}, {1, Status::kOk, 0}}), 1);
}

}  // namespace
}  // namespace nos::tasks
