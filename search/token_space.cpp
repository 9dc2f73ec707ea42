// The token space: per-position choices (vocabulary plus earlier units), uniform draws, mutations, warm-start rules.
#include "search/token_space.h"

#include <sstream>

#include "common/error.h"
#include "dsl/parse.h"
#include "optimizers/named.h"

namespace nos::search {

TokenSpace::TokenSpace(dsl::Vocabulary vocabulary, int units) : units_(units) {
  if (units < 1) throw UserError("a rule needs at least one unit, got " + std::to_string(units));
  if (vocabulary.operands.empty() || vocabulary.unary.empty() || vocabulary.binary.empty()) {
    throw UserError("the vocabulary needs at least one operand, one unary and one binary function");
  }
  for (int pos = 0; pos < positions(); ++pos) {
    const int slot = pos % 5;
    if (slot < 2) {
      std::vector<std::string> c = vocabulary.operands;
      for (int u = 0; u < pos / 5; ++u) c.push_back("u" + std::to_string(u));
      choices_.push_back(std::move(c));
    } else {
      choices_.push_back(slot < 4 ? vocabulary.unary : vocabulary.binary);
    }
  }
}

size_t uniform_index(Rng& rng, size_t n) {
  NOS_CHECK(n > 0, "uniform_index over nothing");
  // Rejection sampling keeps every index equally likely (a plain modulo favours small ones).
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x = rng();
  while (x >= limit) x = rng();
  return static_cast<size_t>(x % n);
}

std::vector<std::string> TokenSpace::sample(Rng& rng) const {
  std::vector<std::string> words;
  for (int pos = 0; pos < positions(); ++pos) words.push_back(choices(pos)[uniform_index(rng, choices(pos).size())]);
  return words;
}

void TokenSpace::resample_unit(std::vector<std::string>& words, int unit, Rng& rng) const {
  NOS_CHECK(static_cast<int>(words.size()) == positions() && unit >= 0 && unit < units_, "bad unit " << unit);
  for (int pos = 5 * unit; pos < 5 * unit + 5; ++pos) words[pos] = choices(pos)[uniform_index(rng, choices(pos).size())];
}

bool TokenSpace::replace_token(std::vector<std::string>& words, int pos, Rng& rng) const {
  NOS_CHECK(static_cast<int>(words.size()) == positions() && pos >= 0 && pos < positions(), "bad position " << pos);
  std::vector<std::string> others;
  for (const std::string& c : choices(pos)) {
    if (c != words[pos]) others.push_back(c);
  }
  if (others.empty()) return false;
  words[pos] = others[uniform_index(rng, others.size())];
  return true;
}

std::vector<std::string> split_words(const std::string& tokens) {
  std::vector<std::string> words;
  std::istringstream in(tokens);
  std::string word;
  while (in >> word) {
    if (word != "|") words.push_back(word);
  }
  return words;
}

std::string join_words(const std::vector<std::string>& words) {
  std::string text;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) text += i % 5 == 0 ? " | " : " ";
    text += words[i];
  }
  return text;
}

std::string rule_to_units(const std::string& rule, int units) {
  std::vector<dsl::Unit> found;
  if (optimizers::find_named_rule(rule) != nullptr || optimizers::find_native_rule(rule) != nullptr) {
    found = dsl::to_units_fewest(dsl::parse(optimizers::rule_source_text(rule)), units);
  } else {
    dsl::TokenParseResult tokens = dsl::try_parse_tokens(rule);
    if (tokens.diagnostics.empty() && !tokens.units.empty()) {
      if (static_cast<int>(tokens.units.size()) > units) {
        throw UserError("'" + rule + "' has " + std::to_string(tokens.units.size()) + " units; the search space has " +
                        std::to_string(units));
      }
      found = tokens.units;
    } else {
      found = dsl::to_units_fewest(optimizers::parse_user_rule(rule), units);
    }
  }
  // Dead units in front keep the rule's meaning: from_units ignores units nothing refers to.
  const int shift = units - static_cast<int>(found.size());
  for (dsl::Unit& u : found) {
    for (dsl::Token* t : {&u.op1, &u.op2}) {
      if (t->unit_ref >= 0) t->unit_ref += shift;
    }
  }
  std::string text;
  for (int i = 0; i < shift; ++i) text += "g g id id add | ";
  return text + dsl::units_to_text(found);
}

}  // namespace nos::search
