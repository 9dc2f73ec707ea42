// Randomised tests: random token sequences and random bytes never crash the readers, and every valid rule
// round-trips infix → tokens → infix to the same canonical text and hash.
#include <gtest/gtest.h>

#include <random>

#include "dsl/dsl.h"

namespace nos::dsl {
namespace {

// The round trip the search relies on: canonical text C; tokens of C read back give C again, and so does C reparsed.
void expect_round_trip(const NodePtr& rule, const std::string& origin) {
  NodePtr canonical = canonicalize(rule);
  std::string text = to_infix(*canonical);
  ASSERT_EQ(canonical_text(canonical), text) << "canonical form not idempotent for " << origin;
  NodePtr reparsed = parse(text);
  ASSERT_EQ(canonical_text(reparsed), text) << "reparse of " << text << " from " << origin;
  std::string tokens = units_to_text(to_units(reparsed));
  NodePtr back = from_units(parse_tokens(tokens));
  ASSERT_EQ(canonical_text(back), text) << origin << " -> " << tokens;
  ASSERT_EQ(rule_hash(back), rule_hash(rule)) << origin;
}

// The default vocabulary plus every opt-in primitive of the table (issue 16's) and some non-default parameters.
Vocabulary every_token() {
  Vocabulary v = default_vocabulary();
  for (const Primitive& p : primitives()) {
    if (p.default_vocabulary) continue;
    if (p.role == Role::kOperand) v.operands.emplace_back(p.name);
    if (p.role == Role::kUnary) v.unary.emplace_back(p.name);
    if (p.role == Role::kBinary) v.binary.emplace_back(p.token);
  }
  for (const char* t : {"mp(0.5)", "vmax(0.99)", "adam(1e-06)", "rmsprop(0.001)", "adagrad(0.001)"}) {
    v.operands.emplace_back(t);
  }
  return v;
}

TEST(Fuzz, RandomTokenSequences) {
  std::mt19937_64 rng(12345);
  const Vocabulary v = every_token();
  ASSERT_GT(v.operands.size(), default_vocabulary().operands.size() + 10);
  const std::vector<std::string> junk = {"u9", "expp", "(", ")", "|", "-", "1e", "clip", "drop(1)", "+", "g+",
                                         "sign(", "m(2)", "0", "-3.5", "keep", "sign", "u0"};
  int valid = 0;
  for (int trial = 0; trial < 10000; ++trial) {
    const int units = 1 + static_cast<int>(rng() % 5);
    std::string text;
    for (int u = 0; u < units; ++u) {
      if (u > 0) text += " | ";
      for (int pos = 0; pos < 5; ++pos) {
        std::string tok;
        if (rng() % 25 == 0) {
          tok = junk[rng() % junk.size()];
        } else if (pos < 2) {
          if (u > 0 && rng() % 3 == 0) {
            tok = "u" + std::to_string(rng() % u);
          } else {
            tok = v.operands[rng() % v.operands.size()];
          }
        } else if (pos < 4) {
          tok = v.unary[rng() % v.unary.size()];
        } else {
          tok = v.binary[rng() % v.binary.size()];
        }
        text += tok;
        if (pos < 4) text += ' ';
      }
    }
    TokenParseResult r = try_parse_tokens(text);
    if (!r.diagnostics.empty()) {
      EXPECT_TRUE(r.units.empty());
      for (const Diagnostic& d : r.diagnostics) EXPECT_FALSE(d.code.empty());
      continue;
    }
    ++valid;
    expect_round_trip(from_units(r.units), text);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(valid, 5000);  // most sequences are valid; the test exercises the round trip, not just errors
}

TEST(Fuzz, RandomByteStrings) {
  std::mt19937_64 rng(777);
  const std::string alphabet = "gmvywdaelnsoqrtpick0123456789.e+-*/^(),| _";
  const std::vector<std::string> words = {"g", "m", "v", "exp", "log", "sqrt", "sign", "clip", "drop", "keep",
                                          "adam", "ld", "cd(2)", "noise", "(", ")", ",", "0.5", "+", "*", "/",
                                          "^", "-", "w"};
  int parsed = 0;
  for (int trial = 0; trial < 10000; ++trial) {
    std::string text;
    const int len = static_cast<int>(rng() % 40);
    const int mode = trial % 3;
    for (int i = 0; i < len; ++i) {
      if (mode == 0) {
        text += static_cast<char>(rng() % 256);  // raw bytes, NULs and UTF-8 fragments included
      } else if (mode == 1) {
        text += alphabet[rng() % alphabet.size()];
      } else {
        text += words[rng() % words.size()];
      }
    }
    ParseResult r = try_parse(text);
    TokenParseResult t = try_parse_tokens(text);
    (void)t;
    if (r.diagnostics.empty()) {
      ASSERT_NE(r.rule, nullptr);
      ++parsed;
      expect_round_trip(r.rule, text);
      if (HasFatalFailure()) return;
    } else {
      EXPECT_EQ(r.rule, nullptr);
      // The formatted message never fails, whatever the bytes.
      EXPECT_FALSE(format_diagnostics(r.diagnostics, text, "rule").empty());
    }
  }
  EXPECT_GT(parsed, 50);
}

}  // namespace
}  // namespace nos::dsl
