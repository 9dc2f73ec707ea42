// Random benchmark rules: a filtered vocabulary, uniform token draws, every unit made live, and the spec parser.
#include "bench/random_rule.h"

#include <charconv>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "dsl/parse.h"
#include "dsl/primitives.h"
#include "dsl/tokens.h"
#include "search/token_space.h"

namespace nos::bench {

namespace {

// Whether a vocabulary token does deterministic work that deepens a unit: not noise or drop (random), id or keep.
bool deterministic_and_deep(const std::string& token) {
  const std::string head = token.substr(0, token.find('('));
  const dsl::Primitive* p = dsl::find_by_token(head);
  if (p == nullptr) p = dsl::find_by_name(head);
  return p == nullptr || (!p->random && p->prim != dsl::Prim::kIdentity && p->prim != dsl::Prim::kKeep);
}

std::vector<std::string> filtered(const std::vector<std::string>& tokens) {
  std::vector<std::string> kept;
  for (const std::string& t : tokens) {
    if (deterministic_and_deep(t)) kept.push_back(t);
  }
  return kept;
}

bool referenced_from(const std::vector<std::string>& words, int unit, int from_unit) {
  const std::string ref = "u" + std::to_string(unit);
  for (size_t pos = 5 * static_cast<size_t>(from_unit); pos < words.size(); pos += 5) {
    if (words[pos] == ref || words[pos + 1] == ref) return true;
  }
  return false;
}

// From the last unit down, a unit nothing later refers to becomes op1 of the unit after it. A change at unit k
// only rewrites a reference to a unit below k, which is checked afterwards, so every unit ends up live.
void make_every_unit_live(std::vector<std::string>& words, int units) {
  for (int k = units - 1; k >= 1; --k) {
    if (!referenced_from(words, k - 1, k)) words[5 * static_cast<size_t>(k)] = "u" + std::to_string(k - 1);
  }
}

int64_t whole_number(const std::string& text, const std::string& where, const std::string& what) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 1) {
    throw UserError(where + ": expected " + what + " (a whole number >= 1), got '" + text + "'");
  }
  return value;
}

}  // namespace

std::string random_rule(int depth, uint64_t seed) {
  NOS_CHECK(depth >= 1 && depth <= kMaxRandomDepth, "random rule depth " << depth);
  const dsl::Vocabulary& all = dsl::default_vocabulary();
  const dsl::Vocabulary vocabulary{filtered(all.operands), filtered(all.unary), filtered(all.binary)};
  const search::TokenSpace space(vocabulary, depth);
  search::Rng rng(seed);
  std::vector<std::string> words = space.sample(rng);
  make_every_unit_live(words, depth);
  return dsl::to_infix(*dsl::from_units(dsl::parse_tokens(search::join_words(words))));
}

std::string bench_rule_text(const std::string& spec, const std::string& where) {
  if (spec.rfind("random:", 0) != 0) return spec;
  const std::string rest = spec.substr(7);
  const size_t colon = rest.find(':');
  const std::string depth = rest.substr(0, colon);
  const std::string seed = colon == std::string::npos ? "1" : rest.substr(colon + 1);
  const int64_t d = whole_number(depth, where, "a depth (random:DEPTH:SEED)");
  if (d > kMaxRandomDepth) throw UserError(where + ": depth must be at most " + std::to_string(kMaxRandomDepth));
  return random_rule(static_cast<int>(d), static_cast<uint64_t>(whole_number(seed, where, "a seed ≥ 1")));
}

}  // namespace nos::bench
