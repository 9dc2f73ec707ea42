// The token space proposers draw from: the choices at each position of a rule's units, uniform sampling, mutation.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "dsl/tokens.h"

namespace nos::search {

// The generator every proposer but the controller uses: its state prints and reads back exactly (checkpoints).
using Rng = std::mt19937_64;

// Rules of exactly `units` units of 5 tokens (op1 op2 u1 u2 b). Position p belongs to unit p/5; its kind is operand
// (p%5 < 2), unary (2, 3) or binary (4). Operands of unit k are the vocabulary's operands followed by u0..u(k-1), in
// the order the controller uses, so every proposer explores the same space.
class TokenSpace {
 public:
  // Throws nos::UserError when a kind has no token.
  TokenSpace(dsl::Vocabulary vocabulary, int units);

  int units() const { return units_; }
  int positions() const { return 5 * units_; }
  const std::vector<std::string>& choices(int pos) const { return choices_.at(static_cast<size_t>(pos)); }

  // One token per position, each uniform over its choices.
  std::vector<std::string> sample(Rng& rng) const;
  // Redraws one whole unit (`unit`) uniformly.
  void resample_unit(std::vector<std::string>& words, int unit, Rng& rng) const;
  // Replaces the token at `pos` by a different choice of its position, if there is one; false otherwise.
  bool replace_token(std::vector<std::string>& words, int pos, Rng& rng) const;

  // Evolution's mutations beyond one token (Chen et al. 2023 mutate constants and insert and delete statements).
  // Each returns the position or unit it changed, or -1 when the rule has nothing it applies to (words unchanged).
  // A number of a live token (a constant, a parameter: m(0.9)'s β, clip's c, adam(1e-08)'s ε; a bare m or cd takes its
  // default) scaled by 2^z, z ~ N(0, 1): β and drop's p through 1 − β (kept in [0, 0.9999]), the others as they are;
  // rounded to 3 significant digits.
  int mutate_number(std::vector<std::string>& words, Rng& rng) const;
  // A new unit in a dead one (rule_to_units' filler), between a live unit and one of its operands: the rule grows.
  int insert_unit(std::vector<std::string>& words, Rng& rng) const;
  // A live unit other than the last one bypassed: the units reading it read its first operand instead (it goes dead).
  int delete_unit(std::vector<std::string>& words, Rng& rng) const;
  // Which units the rule reads (the last, and every unit a read one refers to).
  std::vector<bool> live_units(const std::vector<std::string>& words) const;

 private:
  int units_;
  std::vector<std::vector<std::string>> choices_;
};

// "g m sign sign mul | u0 g exp id mul" ↔ its words (the '|' separators are dropped; text() puts them back).
std::vector<std::string> split_words(const std::string& tokens);
std::string join_words(const std::vector<std::string>& words);

// A uniform integer in [0, n) (n > 0) from `rng`, the same on every platform (std's distributions are not).
size_t uniform_index(Rng& rng, size_t n);
// A uniform real in [0, 1) and a standard normal (Box-Muller), the same on every platform.
double uniform_real(Rng& rng);
double standard_normal(Rng& rng);

// A rule given as a named rule ("adam"), infix DSL text or token text, written as token text of exactly `units`
// units: a rule that needs fewer gets dead filler units in front (its unit references shifted past them). A named
// rule with a decoupled weight decay λ is written with + λ·w (adamw: adam + 0.01*w, the same step). Throws
// nos::UserError (dsl::RuleError for text that does not parse) when it does not parse or needs more units.
std::string rule_to_units(const std::string& rule, int units);

}  // namespace nos::search
