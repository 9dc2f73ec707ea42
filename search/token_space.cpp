// The token space: per-position choices (vocabulary plus earlier units), uniform draws, mutations, warm-start rules.
#include "search/token_space.h"

#include <cmath>
#include <sstream>

#include "common/error.h"
#include "common/text.h"
#include "dsl/primitives.h"
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

double uniform_real(Rng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

double standard_normal(Rng& rng) {
  const double u1 = 1.0 - uniform_real(rng), u2 = uniform_real(rng);  // u1 in (0, 1]
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

namespace {

// A unit reference "uK": K, else -1.
int unit_ref(const std::string& token) {
  if (token.size() < 2 || token[0] != 'u') return -1;
  for (size_t i = 1; i < token.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(token[i]))) return -1;
  }
  return std::stoi(token.substr(1));
}

bool parse_number(const std::string& text, double& value) {
  if (text.empty()) return false;
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isfinite(value);
}

double round_significant(double x, int digits) {
  if (x == 0 || !std::isfinite(x)) return x;
  const double scale = std::pow(10.0, digits - 1 - static_cast<int>(std::floor(std::log10(std::fabs(x)))));
  return std::round(x * scale) / scale;
}

// A token with a number in it, split: prefix + number + suffix ("m(" 0.9 ")", "" 2 "", "" 0.001 "*w"), and the
// parameter's name ("beta", "p", "value", ...).
struct NumberToken {
  std::string prefix, suffix, kind;
  double value = 0;
};

bool number_token(const std::string& token, NumberToken& out) {
  double x = 0;
  if (parse_number(token, x)) {
    out = {"", "", "value", x};
    return true;
  }
  if (token.size() > 2 && token.compare(token.size() - 2, 2, "*w") == 0 &&
      parse_number(token.substr(0, token.size() - 2), x)) {
    out = {"", "*w", "value", x};
    return true;
  }
  const size_t open = token.find('(');
  const std::string name = token.substr(0, open);
  const dsl::Primitive* p = dsl::find_by_token(name);
  if (p == nullptr || p->param.kind == dsl::ParamSpec::Kind::kNone || p->prim == dsl::Prim::kSign) return false;
  if (open == std::string::npos) {
    if (p->param.kind != dsl::ParamSpec::Kind::kOptional) return false;
    out = {name + "(", ")", std::string(p->param.name), p->param.default_value};
    return true;
  }
  if (token.back() != ')' || !parse_number(token.substr(open + 1, token.size() - open - 2), x)) return false;
  out = {name + "(", ")", std::string(p->param.name), x};
  return true;
}

}  // namespace

std::vector<bool> TokenSpace::live_units(const std::vector<std::string>& words) const {
  NOS_CHECK(static_cast<int>(words.size()) == positions(), "a rule of " << words.size() << " tokens");
  std::vector<bool> live(static_cast<size_t>(units_), false);
  live.back() = true;
  for (int u = units_ - 1; u >= 0; --u) {
    if (!live[u]) continue;
    for (int slot = 0; slot < 2; ++slot) {
      const int k = unit_ref(words[5 * u + slot]);
      if (k >= 0 && k < u) live[k] = true;
    }
  }
  return live;
}

int TokenSpace::mutate_number(std::vector<std::string>& words, Rng& rng) const {
  const std::vector<bool> live = live_units(words);
  std::vector<std::pair<int, NumberToken>> candidates;
  NumberToken token;
  for (int pos = 0; pos < positions(); ++pos) {
    if (live[pos / 5] && pos % 5 != 4 && number_token(words[pos], token)) candidates.emplace_back(pos, token);
  }
  if (candidates.empty()) return -1;
  const auto& [pos, found] = candidates[uniform_index(rng, candidates.size())];
  const double factor = std::exp2(standard_normal(rng));
  double x = found.value;
  if (found.kind == "beta" || found.kind == "p") {
    // 1 − β scaled (β 0.99 → 0.98 or 0.995), rounded, kept in the parameter's range.
    // The difference is rounded again: 1 − 0.418 is 0.5820000000000001 in binary, printed so in the rule.
    x = round_significant(1.0 - round_significant((1.0 - x) * factor, 3), 12);
    x = std::min(std::max(x, 0.0), 0.9999);
  } else {
    x = round_significant(x * factor, 3);
    if (x == 0) x = found.value;
  }
  words[pos] = found.prefix + format_number(x) + found.suffix;
  return pos;
}

int TokenSpace::insert_unit(std::vector<std::string>& words, Rng& rng) const {
  const std::vector<bool> live = live_units(words);
  // (dead unit j, operand position of a live unit after it whose token unit j may read).
  std::vector<std::pair<int, int>> candidates;
  for (int j = 0; j < units_; ++j) {
    if (live[j]) continue;
    for (int l = j + 1; l < units_; ++l) {
      if (!live[l]) continue;
      for (int slot = 0; slot < 2; ++slot) {
        const int k = unit_ref(words[5 * l + slot]);
        if (k < j) candidates.emplace_back(j, 5 * l + slot);
      }
    }
  }
  if (candidates.empty()) return -1;
  const auto [j, pos] = candidates[uniform_index(rng, candidates.size())];
  resample_unit(words, j, rng);
  words[5 * j] = words[pos];
  words[pos] = "u" + std::to_string(j);
  return j;
}

int TokenSpace::delete_unit(std::vector<std::string>& words, Rng& rng) const {
  const std::vector<bool> live = live_units(words);
  std::vector<int> candidates;
  for (int u = 0; u + 1 < units_; ++u) {
    if (live[u]) candidates.push_back(u);
  }
  if (candidates.empty()) return -1;
  const int d = candidates[uniform_index(rng, candidates.size())];
  const std::string ref = "u" + std::to_string(d);
  for (int pos = 5 * (d + 1); pos < positions(); ++pos) {
    if (pos % 5 < 2 && words[pos] == ref) words[pos] = words[5 * d];
  }
  return d;
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

namespace {

// A warm-start rule longer than the space: the message names the key to raise and by how much.
void check_fits(const std::string& rule, size_t needed, int units) {
  if (static_cast<int>(needed) <= units) return;
  throw UserError("'" + rule + "' needs " + std::to_string(needed) + " units of 5 tokens, and the search space has " +
                  std::to_string(units) + " (space.units): set space.units to " + std::to_string(needed) +
                  " or more, or leave this rule out");
}

std::vector<dsl::Unit> fewest_units(const std::string& rule, const dsl::NodePtr& tree, int units) {
  std::vector<dsl::Unit> found = dsl::to_units_fewest(tree, 0);
  check_fits(rule, found.size(), units);
  return found;
}

}  // namespace

std::string rule_to_units(const std::string& rule, int units) {
  std::vector<dsl::Unit> found;
  if (optimizers::find_named_rule(rule) != nullptr || optimizers::find_native_rule(rule) != nullptr) {
    std::string text = optimizers::rule_source_text(rule);
    // A decoupled weight decay λ (adamw's) is an optimizer option a search's child does not have: written into the
    // rule as + λ·w, which is the same step (w − lr·λ·w − lr·rule).
    const optimizers::NativeRule* native = optimizers::find_native_rule(rule);
    const optimizers::NamedRule* named = optimizers::find_named_rule(native != nullptr ? native->twin : rule);
    const double lambda = named != nullptr ? named->defaults.decoupled_weight_decay() : 0.0;
    if (lambda > 0) text = "(" + text + ") + " + format_number(lambda) + "*w";
    found = fewest_units(rule, dsl::parse(text), units);
  } else {
    dsl::TokenParseResult tokens = dsl::try_parse_tokens(rule);
    if (tokens.diagnostics.empty() && !tokens.units.empty()) {
      check_fits(rule, tokens.units.size(), units);
      found = tokens.units;
    } else {
      found = fewest_units(rule, optimizers::parse_user_rule(rule), units);
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
