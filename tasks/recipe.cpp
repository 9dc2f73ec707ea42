// The training recipe (recipe.h): keys, text form and checks.
#include "tasks/recipe.h"

#include <charconv>
#include <cmath>

#include "common/error.h"
#include "common/text.h"

namespace nos::tasks {

namespace {

double non_negative(const std::string& text, const std::string& where, const std::string& key) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value) || value < 0) {
    throw UserError(where + ": " + key + " must be a finite number >= 0, got '" + text + "'");
  }
  return value;
}

std::string one_of(const std::string& text, const std::vector<std::string>& allowed, const std::string& where,
                   const std::string& key) {
  for (const std::string& a : allowed) {
    if (a == text) return text;
  }
  throw UserError(where + ": " + key + " must be one of " + joined(allowed) + ", got '" + text + "'");
}

}  // namespace

const std::vector<std::string>& recipe_keys() {
  static const std::vector<std::string> keys = {"schedule",          "weight_decay", "weight_decay_mode",
                                                "weight_decay_mask", "clip_norm",    "clip_value"};
  return keys;
}

const std::vector<std::string>& weight_decay_mode_names() {
  static const std::vector<std::string> names = {"coupled", "decoupled"};
  return names;
}

const std::vector<std::string>& weight_decay_mask_names() {
  static const std::vector<std::string> names = {"weights", "all"};
  return names;
}

void set_recipe_key(Recipe& recipe, const std::string& key, const std::string& value, const std::string& where) {
  if (key == "schedule") {
    recipe.schedule = parse_schedule(value, where);
    // What can be checked before the run's length is known (t_mult < 1, a missing step_size, ...), here, where the
    // message can name the flag or key; the rest when a run starts (check_recipe).
    check_schedule(recipe.schedule, int64_t{1} << 40, 1, where);
  } else if (key == "weight_decay") {
    recipe.weight_decay = non_negative(value, where, key);
  } else if (key == "weight_decay_mode") {
    recipe.weight_decay_mode = one_of(value, weight_decay_mode_names(), where, key);
  } else if (key == "weight_decay_mask") {
    recipe.weight_decay_mask = one_of(value, weight_decay_mask_names(), where, key);
  } else if (key == "clip_norm") {
    recipe.clip_norm = non_negative(value, where, key);
  } else if (key == "clip_value") {
    recipe.clip_value = non_negative(value, where, key);
  } else {
    throw UserError(where + ": unknown training setting '" + key + "' (known: " + joined(recipe_keys()) + ")");
  }
}

std::string recipe_value(const Recipe& recipe, const std::string& key) {
  const Recipe defaults;
  if (key == "schedule") {
    const std::string text = schedule_text(recipe.schedule);
    return text == schedule_text(defaults.schedule) ? "" : text;
  }
  if (key == "weight_decay") return std::isnan(recipe.weight_decay) ? "" : format_number(recipe.weight_decay);
  if (key == "weight_decay_mode") {
    return recipe.weight_decay_mode == defaults.weight_decay_mode ? "" : recipe.weight_decay_mode;
  }
  if (key == "weight_decay_mask") {
    return recipe.weight_decay_mask == defaults.weight_decay_mask ? "" : recipe.weight_decay_mask;
  }
  if (key == "clip_norm") return recipe.clip_norm == 0 ? "" : format_number(recipe.clip_norm);
  if (key == "clip_value") return recipe.clip_value == 0 ? "" : format_number(recipe.clip_value);
  NOS_CHECK(false, "no recipe key '" << key << "'");
  return "";
}

std::string recipe_text(const Recipe& recipe) {
  std::string out;
  for (const std::string& key : recipe_keys()) {
    const std::string value = recipe_value(recipe, key);
    if (!value.empty()) out += (out.empty() ? "" : "; ") + key + ": " + value;
  }
  return out;
}

Recipe parse_recipe_text(const std::string& text, const std::string& where) {
  Recipe recipe;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find(';', begin);
    if (end == std::string::npos) end = text.size();
    const std::string item = trim(text.substr(begin, end - begin));
    begin = end + 1;
    if (item.empty()) continue;
    const size_t colon = item.find(':');
    if (colon == std::string::npos) throw UserError(where + ": expected 'key: value', got '" + item + "'");
    set_recipe_key(recipe, trim(item.substr(0, colon)), trim(item.substr(colon + 1)), where);
  }
  return recipe;
}

bool is_default(const Recipe& recipe) { return recipe_text(recipe).empty(); }

void check_recipe(const Recipe& recipe, int64_t total_steps, int64_t steps_per_epoch) {
  check_schedule(recipe.schedule, total_steps, steps_per_epoch, "schedule");
  if (std::isnan(recipe.weight_decay)) {
    for (const char* key : {"weight_decay_mode", "weight_decay_mask"}) {
      if (!recipe_value(recipe, key).empty()) {
        throw UserError(std::string(key) + ": " + recipe_value(recipe, key) +
                        " needs a weight_decay (without one the rule's own decay applies, unchanged)");
      }
    }
  }
}

std::string describe_recipe(const Recipe& recipe) {
  const std::string schedule = recipe_value(recipe, "schedule");
  std::string out = schedule.empty() ? "constant lr" : "schedule " + schedule;
  if (std::isnan(recipe.weight_decay)) {
    out += "; the rule's own weight decay";
  } else {
    out += "; weight decay " + format_number(recipe.weight_decay) + " " + recipe.weight_decay_mode + " on " +
           (recipe.weight_decay_mask == "all" ? "every parameter" : "weights (not biases or batch norm)");
  }
  if (recipe.clip_norm > 0) out += "; gradients clipped to global norm " + format_number(recipe.clip_norm);
  if (recipe.clip_value > 0) out += "; gradients clipped to ±" + format_number(recipe.clip_value);
  if (recipe.clip_norm == 0 && recipe.clip_value == 0) out += "; no clipping";
  return out;
}

}  // namespace nos::tasks
