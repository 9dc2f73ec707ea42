// The training recipe's text form and checks (tasks/recipe.h).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/error.h"
#include "tasks/recipe.h"

namespace nos::tasks {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_recipe_text(text, "here");
  } catch (const UserError& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(Recipe, DefaultIsEmptyTextAndReadsBack) {
  const Recipe r;
  EXPECT_TRUE(is_default(r));
  EXPECT_EQ(recipe_text(r), "");
  EXPECT_TRUE(std::isnan(parse_recipe_text("", "here").weight_decay));
  EXPECT_EQ(describe_recipe(r), "constant lr; the rule's own weight decay; no clipping");
}

TEST(Recipe, TextRoundTripsInKeyOrder) {
  Recipe r;
  set_recipe_key(r, "clip_value", "0.5", "--clip-value");
  set_recipe_key(r, "schedule", "noisy_linear_cosine,warmup=100", "--schedule");
  set_recipe_key(r, "weight_decay", "0.0001", "--weight-decay");
  set_recipe_key(r, "weight_decay_mask", "all", "--weight-decay-mask");
  const std::string text = recipe_text(r);
  EXPECT_EQ(text, "schedule: noisy_linear_cosine,warmup=100; weight_decay: 0.0001; weight_decay_mask: all; "
                  "clip_value: 0.5");
  EXPECT_EQ(recipe_text(parse_recipe_text(text, "here")), text);
  EXPECT_FALSE(is_default(r));
  EXPECT_EQ(describe_recipe(r), "schedule noisy_linear_cosine,warmup=100; weight decay 0.0001 coupled on every "
                                "parameter; gradients clipped to ±0.5");
}

TEST(Recipe, BadValuesNameTheSettingAndWhere) {
  EXPECT_EQ(error_of("weight_decay: -1"), "here: weight_decay must be a finite number >= 0, got '-1'");
  EXPECT_EQ(error_of("clip_norm: x"), "here: clip_norm must be a finite number >= 0, got 'x'");
  EXPECT_EQ(error_of("weight_decay_mode: sometimes"),
            "here: weight_decay_mode must be one of coupled, decoupled, got 'sometimes'");
  EXPECT_NE(error_of("weight_decay_mask: biases").find("weights, all"), std::string::npos);
  EXPECT_NE(error_of("clip: 1").find("unknown training setting 'clip'"), std::string::npos);
  EXPECT_NE(error_of("schedule: cosin").find("cosin"), std::string::npos);
  EXPECT_NE(error_of("weight_decay 1").find("expected 'key: value'"), std::string::npos);
  // The mode and mask need a λ: without one the rule's own decay applies, and they would silently do nothing.
  Recipe r;
  set_recipe_key(r, "weight_decay_mode", "decoupled", "x");
  try {
    check_recipe(r, 100, 10);
    ADD_FAILURE() << "accepted a mode without a weight_decay";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("weight_decay_mode: decoupled needs a weight_decay"), std::string::npos);
  }
  set_recipe_key(r, "weight_decay", "0.1", "x");
  EXPECT_NO_THROW(check_recipe(r, 100, 10));
  // The schedule is checked against the run: a warm-up longer than it.
  set_recipe_key(r, "schedule", "cosine,warmup=200", "x");
  EXPECT_THROW(check_recipe(r, 100, 10), UserError);
}

}  // namespace
}  // namespace nos::tasks
