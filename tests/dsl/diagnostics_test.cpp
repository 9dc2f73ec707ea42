// Negative tests: malformed rules and token texts give the right error code at the right column.
#include <gtest/gtest.h>

#include "dsl/dsl.h"

namespace nos::dsl {
namespace {

struct Bad {
  std::string text;
  std::string code;
  int column;
};

TEST(Diagnostics, MalformedInfixRules) {
  const std::vector<Bad> cases = {
      {"exp(g)*expp(m)", "E012", 8},       // unknown function, with suggestion
      {"gg + m", "E010", 1},               // unknown operand
      {"g + $", "E001", 5},                // unexpected character
      {"g @ m", "E001", 3},
      {"1e+ * g", "E002", 1},              // malformed number
      {"2g", "E002", 1},
      {"1e999*g", "E002", 1},              // out of range
      {"g +", "E003", 4},                  // expected an expression at the end
      {"* g", "E003", 1},
      {"(g + m", "E004", 7},               // missing ')'
      {"exp(g", "E004", 6},
      {"clip(g 0.1)", "E004", 8},          // expected ',' or ')'
      {"g m", "E005", 3},                  // trailing input
      {"g)", "E005", 2},
      {"", "E006", 1},                     // empty
      {"   ", "E006", 1},
      {"exp + g", "E011", 1},              // function without a call
      {"clip(g)", "E013", 1},              // wrong arity
      {"exp(g, m)", "E013", 1},
      {"keep(g)", "E013", 1},
      {"clip(g, m)", "E014", 9},           // parameter must be a literal
      {"m(v)", "E014", 3},
      {"drop(g, 1.5)", "E015", 9},         // parameter out of range
      {"m(1)", "E015", 3},
      {"m(-0.5)", "E015", 3},
      {"clip(g, 0)", "E015", 9},
      {"cd(0)", "E015", 4},
      {"g(0.5)", "E016", 1},               // operand takes no parameter
      {"s(1)", "E016", 1},
      {"adam(0)", "E015", 6},              // ε > 0
      {"mp(1)", "E015", 4},
      {"w(g)", "E014", 3},
  };
  ASSERT_GE(cases.size(), 20u);
  for (const Bad& b : cases) {
    ParseResult r = try_parse(b.text);
    ASSERT_FALSE(r.diagnostics.empty()) << "'" << b.text << "' parsed";
    EXPECT_EQ(r.rule, nullptr);
    EXPECT_EQ(r.diagnostics[0].code, b.code) << "'" << b.text << "': " << r.diagnostics[0].message;
    EXPECT_EQ(r.diagnostics[0].column, b.column) << "'" << b.text << "': " << r.diagnostics[0].message;
  }
}

TEST(Diagnostics, FormatHasPositionCodeAndCaret) {
  try {
    parse("exp(g)*expp(m)");
    FAIL();
  } catch (const RuleError& e) {
    EXPECT_EQ(std::string(e.what()),
              "rule:1:8: error[E012]: unknown function 'expp' (did you mean 'exp'?)\n"
              "  exp(g)*expp(m)\n"
              "         ^~~~");
  }
}

TEST(Diagnostics, ReportsEveryErrorInOnePass) {
  ParseResult r = try_parse("expp(gg) + $ + drop(m, 2) + q");
  std::vector<std::string> codes;
  for (const Diagnostic& d : r.diagnostics) codes.push_back(d.code);
  EXPECT_EQ(codes, (std::vector<std::string>{"E012", "E010", "E001", "E015", "E010"}));
}

TEST(Diagnostics, SuggestsNearNames) {
  ParseResult r = try_parse("sqr(g) + adma");
  ASSERT_EQ(r.diagnostics.size(), 2u);
  EXPECT_NE(r.diagnostics[0].message.find("did you mean 'sqrt'?"), std::string::npos);
  EXPECT_NE(r.diagnostics[1].message.find("did you mean 'adam'?"), std::string::npos);
}

TEST(Diagnostics, DeepNestingIsAnErrorNotACrash) {
  std::string deep(2000, '(');
  deep += "g";
  deep += std::string(2000, ')');
  ParseResult r = try_parse(deep);
  ASSERT_FALSE(r.diagnostics.empty());
  EXPECT_EQ(r.diagnostics[0].code, "E008");
  std::string minus(3000, '-');
  EXPECT_EQ(try_parse(minus + "g").diagnostics.at(0).code, "E008");
  EXPECT_EQ(try_parse(std::string(3000, 'g')).diagnostics.at(0).code, "E010");
  EXPECT_EQ(try_parse(std::string(5000, 'g')).diagnostics.at(0).code, "E007");
}

TEST(Diagnostics, MultiLineRulesReportTheLine) {
  ParseResult r = try_parse("g +\n  expp(m)");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].line, 2);
  EXPECT_EQ(r.diagnostics[0].column, 3);
}

TEST(Diagnostics, MalformedTokenTexts) {
  const std::vector<Bad> cases = {
      {"g m sign sign", "E030", 14},          // incomplete unit
      {"g m sgn sign mul", "E031", 5},        // unknown token
      {"g exp id id add", "E032", 3},         // function at an operand position
      {"g m g id add", "E032", 5},            // operand at a unary position
      {"g m id id exp", "E032", 11},          // unary at the binary position
      {"u0 g id id add", "E033", 1},          // reference to a unit not computed yet
      {"g m id id add | u1 g id id add", "E033", 17},
      {"g m | id id add", "E036", 5},         // '|' inside a unit
      {"", "E035", 1},
      {"g m clip id add", "E014", 5},         // clip needs its c
      {"g m drop(2) id add", "E015", 5},
      {"g g+m id id add", "E032", 3},         // an expression is not one operand
  };
  for (const Bad& b : cases) {
    TokenParseResult r = try_parse_tokens(b.text);
    ASSERT_FALSE(r.diagnostics.empty()) << "'" << b.text << "' parsed";
    EXPECT_EQ(r.diagnostics[0].code, b.code) << "'" << b.text << "': " << r.diagnostics[0].message;
    EXPECT_EQ(r.diagnostics[0].column, b.column) << "'" << b.text << "': " << r.diagnostics[0].message;
  }
}

}  // namespace
}  // namespace nos::dsl
