// The paper's token form: encoding, decoding, reading token text, unit limits, the default vocabulary.
#include <gtest/gtest.h>

#include "dsl/dsl.h"

namespace nos::dsl {
namespace {

std::string tokens_of(const std::string& infix, int max_units = 0) {
  return units_to_text(to_units(canonicalize(parse(infix)), max_units));
}

TEST(Tokens, PowerSignIsTwoUnits) {
  EXPECT_EQ(tokens_of("exp(sign(g)*sign(m))*g"), "g m sign sign mul | u0 g exp id mul");
}

TEST(Tokens, SingleOperandAndUnaryUseKeep) {
  EXPECT_EQ(tokens_of("g"), "g g id id keep");
  EXPECT_EQ(tokens_of("adam"), "adam adam id id keep");
  EXPECT_EQ(tokens_of("sign(m)"), "m m sign id keep");
  EXPECT_EQ(tokens_of("exp(sign(g))"), "sign(g) sign(g) exp id keep");
  EXPECT_EQ(tokens_of("0.001*w"), "0.001*w 0.001*w id id keep");
}

TEST(Tokens, CompoundOperandsAndParameters) {
  EXPECT_EQ(tokens_of("clip(g, 0.001) + 0.0001*w"), "g 0.0001*w clip(0.001) id add");
  EXPECT_EQ(tokens_of("drop(m(0.8), 0.3)*g"), "m(0.8) g drop(0.3) id mul");
}

TEST(Tokens, SharedSubtreesBecomeOneUnit) {
  // (g + m) appears twice but is computed once.
  EXPECT_EQ(tokens_of("exp(g + m)*(g + m)"), "g m id id add | u0 u0 exp id mul");
}

TEST(Tokens, ReadsTokenText) {
  std::vector<Unit> units = parse_tokens("g m sign sign mul | u0 g exp id mul");
  ASSERT_EQ(units.size(), 2u);
  EXPECT_EQ(canonical_text(from_units(units)), "exp(sign(g)*sign(m))*g");
  // '|' is optional, commas separate too, operator symbols are accepted.
  EXPECT_EQ(canonical_text(from_units(parse_tokens("g, m, sign, sign, *, u0, g, exp, id, *"))),
            "exp(sign(g)*sign(m))*g");
  EXPECT_EQ(canonical_text(from_units(parse_tokens("sign(g) sign(m(0.8)) id id mul"))), "sign(g)*sign(m(0.8))");
  EXPECT_EQ(canonical_text(from_units(parse_tokens("g 0.01*w clip(1e-05) id sub"))), "clip(g, 1e-05) - 0.01*w");
}

TEST(Tokens, DeadUnitsAreIgnored) {
  EXPECT_EQ(canonical_text(from_units(parse_tokens("g g exp exp add | m v id id div"))), "m/v");
}

TEST(Tokens, UnitLimitIsAClearError) {
  EXPECT_NO_THROW(tokens_of("exp(sign(g)*sign(m))*g", 2));
  try {
    tokens_of("exp(sign(g)*sign(m))*g", 1);
    FAIL() << "expected a RuleError";
  } catch (const RuleError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    EXPECT_EQ(e.diagnostics()[0].code, "E034");
    EXPECT_NE(std::string(e.what()).find("needs 2 units"), std::string::npos) << e.what();
  }
}

TEST(Tokens, FewestUnitsPrefersTheCanonicalTree) {
  EXPECT_EQ(units_to_text(to_units_fewest(parse("g*exp(sign(m)*sign(g))"))), "g m sign sign mul | u0 g exp id mul");
  // -(g + m)*v: as written 2 units; canonical -(g + m)*v is written out as a product of a sum, also 2.
  EXPECT_EQ(to_units_fewest(parse("-(g + m)*v")).size(), 2u);
  EXPECT_THROW(to_units_fewest(parse("exp(g)*m + v"), 1), RuleError);
}

TEST(Tokens, InfixTokensInfixRoundTrip) {
  for (const char* text : {"exp(sign(g)*sign(m))*g", "(1+ld*sign(g)*sign(m))*g", "adam", "g/sqrt(v(0.99))",
                           "10*m", "exp(cd(2)*sign(g)*sign(m))*g", "clip(g, 0.001) - 0.01*w + noise",
                           "drop(adam, 0.5) + rmsprop*anoise", "(g + m)^(v - y)/rd", "-g", "2"}) {
    NodePtr c = canonicalize(parse(text));
    std::string tokens = units_to_text(to_units(c));
    NodePtr back = from_units(parse_tokens(tokens));
    EXPECT_EQ(canonical_text(back), to_infix(*c)) << text << " -> " << tokens;
    EXPECT_EQ(rule_hash(back), rule_hash(c)) << text;
  }
}

TEST(Tokens, DefaultVocabularyIsThePapers) {
  const Vocabulary& v = default_vocabulary();
  auto has = [](const std::vector<std::string>& list, const std::string& s) {
    return std::find(list.begin(), list.end(), s) != list.end();
  };
  for (const char* op : {"g", "g2", "g3", "m", "v", "y", "sign(g)", "sign(m)", "1", "2", "noise", "anoise",
                         "0.0001*w", "0.001*w", "0.01*w", "0.1*w", "adam", "rmsprop", "ld", "cd", "rd"}) {
    EXPECT_TRUE(has(v.operands, op)) << op;
  }
  for (const char* u : {"id", "neg", "exp", "log", "sqrt", "clip(1e-05)", "clip(0.0001)", "clip(0.001)",
                        "drop(0.1)", "drop(0.3)", "drop(0.5)", "sign"}) {
    EXPECT_TRUE(has(v.unary, u)) << u;
  }
  EXPECT_EQ(v.binary, (std::vector<std::string>{"add", "sub", "mul", "div", "pow", "keep"}));
  // Every vocabulary entry reads back as a token of its position.
  for (const std::string& op : v.operands) {
    for (const std::string& un : v.unary) {
      EXPECT_TRUE(try_parse_tokens(op + " " + op + " " + un + " id add").diagnostics.empty()) << op << " " << un;
    }
  }
}

}  // namespace
}  // namespace nos::dsl
