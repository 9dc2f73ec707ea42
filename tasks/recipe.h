// The training recipe around a rule (issue 19): the learning-rate schedule, weight decay (coupled or decoupled,
// with a mask) and gradient clipping. One struct, read from config keys and flags alike, written as one line of
// text that identifies it in the worker protocol, run stores and reports ("" for the default recipe, so records
// written before these settings existed read as constant lr / the rule's own decay / no clipping).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tasks/schedule.h"

namespace nos::tasks {

struct Recipe {
  Schedule schedule;
  // λ. NaN (unset): the rule's own weight decay (adamw's decoupled 0.01, on every parameter, as torch.optim.AdamW)
  // and nothing else. Set: it replaces the rule's own, applied in weight_decay_mode to the parameters of
  // weight_decay_mask. A model's built-in L2 penalty (3c3d's 0.002 on its weights, part of the DeepOBS objective)
  // stays a coupled gradient term in either mode, added to this one.
  double weight_decay = std::numeric_limits<double>::quiet_NaN();
  // "coupled": g ← g + λ·w before the rule sees g (L2, as PyTorch's SGD/Adam weight_decay); "decoupled": AdamW's
  // w ← w − lr·λ·w before the rule's step (lr the scheduled lr of the step), for any rule.
  std::string weight_decay_mode = "coupled";
  // "weights": every parameter of rank >= 2 (convolution kernels, linear weights); biases and batch-norm scales and
  // shifts are not decayed. "all": every parameter.
  std::string weight_decay_mask = "weights";
  double clip_norm = 0;   // > 0: the gradients are scaled so their global L2 norm is at most this, before the rule
  double clip_value = 0;  // > 0: each gradient element clamped to [−clip_value, clip_value], before the rule
};

// The recipe's keys, as config keys (flags are --schedule, --weight-decay, ...), in documentation order.
const std::vector<std::string>& recipe_keys();
const std::vector<std::string>& weight_decay_mode_names();  // coupled, decoupled
const std::vector<std::string>& weight_decay_mask_names();  // weights, all

// Sets `key` from its text ("cosine,warmup=0.05" for schedule, "0.01" for weight_decay, ...); a bad value is a
// UserError naming `where` (the flag or the config key's place).
void set_recipe_key(Recipe& recipe, const std::string& key, const std::string& value, const std::string& where);

// The key's value as text set_recipe_key reads; "" when it has its default.
std::string recipe_value(const Recipe& recipe, const std::string& key);

// Every key that differs from its default, "key: value" joined by "; " in recipe_keys() order; "" for the default.
std::string recipe_text(const Recipe& recipe);
// Reads recipe_text's output back (any order); "" is the default recipe. UserError naming `where` on a mistake.
Recipe parse_recipe_text(const std::string& text, const std::string& where);

bool is_default(const Recipe& recipe);

// Checks the recipe against a run (check_schedule), and that weight_decay_mode or weight_decay_mask are set only
// with weight_decay. UserError naming the key.
void check_recipe(const Recipe& recipe, int64_t total_steps, int64_t steps_per_epoch);

// A readable line for reports: "constant lr; the rule's own weight decay; no clipping" or the set values.
std::string describe_recipe(const Recipe& recipe);

}  // namespace nos::tasks
