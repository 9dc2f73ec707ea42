// Unit tests of the infix parser and printer: precedence, operands with parameters, sugar, printing.
#include <gtest/gtest.h>

#include "dsl/dsl.h"

namespace nos::dsl {
namespace {

std::string reprint(const std::string& text) { return to_infix(*parse(text)); }

TEST(Parse, PrecedenceAndAssociativity) {
  EXPECT_EQ(reprint("g+m*v"), "g + m*v");
  EXPECT_EQ(reprint("(g+m)*v"), "(g + m)*v");
  EXPECT_EQ(reprint("g-m-v"), "g - m - v");
  EXPECT_EQ(reprint("g-(m-v)"), "g - (m - v)");
  EXPECT_EQ(reprint("g/m/v"), "g/m/v");
  EXPECT_EQ(reprint("g/(m/v)"), "g/(m/v)");
  EXPECT_EQ(reprint("g^m^v"), "g^m^v");  // right-associative
  EXPECT_EQ(reprint("(g^m)^v"), "(g^m)^v");
  EXPECT_EQ(reprint("-g^2"), "-g^2");  // -(g^2)
  EXPECT_EQ(reprint("(-g)^2"), "(-g)^2");
  EXPECT_EQ(reprint("2^-1"), "2^-1");
}

TEST(Parse, TreeShapeOfMinusAndPower) {
  NodePtr r = parse("-g^2");
  EXPECT_EQ(r->prim, Prim::kNeg);
  EXPECT_EQ(r->args[0]->prim, Prim::kPow);
  NodePtr lit = parse("-2");
  ASSERT_TRUE(lit->is_const());
  EXPECT_EQ(lit->param, -2);
}

TEST(Parse, OperandsWithParametersResolveDefaults) {
  NodePtr m = parse("m");
  EXPECT_EQ(m->prim, Prim::kM);
  EXPECT_DOUBLE_EQ(m->param, 0.9);
  EXPECT_DOUBLE_EQ(parse("v")->param, 0.999);
  EXPECT_DOUBLE_EQ(parse("y")->param, 0.999);
  EXPECT_DOUBLE_EQ(parse("m(0.8)")->param, 0.8);
  EXPECT_DOUBLE_EQ(parse("cd")->param, 0.5);
  EXPECT_DOUBLE_EQ(parse("rd")->param, 1.0);
  EXPECT_DOUBLE_EQ(parse("rd(3)")->param, 3.0);
  EXPECT_EQ(reprint("m(0.9)"), "m");  // default parameter elided
  EXPECT_EQ(reprint("m(0.8)"), "m(0.8)");
}

TEST(Parse, FunctionsAndSugar) {
  EXPECT_EQ(reprint("clip(g, 0.001)"), "clip(g, 0.001)");
  EXPECT_EQ(reprint("drop(g,0.3)"), "drop(g, 0.3)");
  EXPECT_EQ(reprint("keep(g, m)"), "keep(g, m)");
  EXPECT_EQ(reprint("add(g, m)"), "g + m");
  EXPECT_EQ(reprint("pow(g, 2)"), "g^2");
  EXPECT_EQ(reprint("neg(g)"), "-g");
  EXPECT_EQ(reprint("id(g)"), "g");
  EXPECT_EQ(reprint("w(0.001)"), "0.001*w");
  EXPECT_EQ(reprint("exp(sign(g)*sign(m))*g"), "exp(sign(g)*sign(m))*g");
  EXPECT_EQ(reprint("  g  "), "g");
  EXPECT_EQ(reprint("1.5e-3*g"), "0.0015*g");
  EXPECT_EQ(reprint(".5*g"), "0.5*g");
}

TEST(Parse, SpansPointIntoTheSource) {
  NodePtr r = parse("g + exp(m)");
  EXPECT_EQ(r->span.begin, 0);
  EXPECT_EQ(r->span.end, 10);
  EXPECT_EQ(r->args[1]->span.begin, 4);
}

TEST(Parse, NumbersPrintShortestRoundTrip) {
  EXPECT_EQ(format_number(0.1), "0.1");
  EXPECT_EQ(format_number(1e-8), "1e-08");
  EXPECT_EQ(format_number(-0.0), "0");
  EXPECT_EQ(format_number(2), "2");
  double x = 0;
  for (double v : {0.1, 1.0 / 3.0, 1e-300, 123456789.125, -2.5e17}) {
    NodePtr n = parse(format_number(v));
    x = n->param;
    EXPECT_EQ(x, v);
  }
}

TEST(Parse, RequiredAveragesAndProperties) {
  std::vector<Average> avg = required_averages(*parse("adam + m(0.8) + y + rmsprop"));
  std::vector<std::string> names;
  for (const Average& a : avg) names.push_back(average_name(a));
  EXPECT_EQ(names, (std::vector<std::string>{"m(0.8)", "m(0.9)", "v(0.999)", "y(0.999)"}));
  EXPECT_TRUE(is_random(*parse("g + noise")));
  EXPECT_TRUE(is_random(*parse("drop(g, 0.1)")));
  EXPECT_FALSE(is_random(*parse("g + ld")));
  EXPECT_TRUE(uses_decay(*parse("rd(2)*g")));
}

TEST(Primitives, TableIsComplete) {
  ASSERT_EQ(static_cast<int>(primitives().size()), kNumPrims);
  for (const Primitive& p : primitives()) {
    EXPECT_FALSE(p.token.empty() && p.prim != Prim::kConst) << static_cast<int>(p.prim);
    EXPECT_FALSE(p.doc.empty());
    if (p.role == Role::kBinary) {
      EXPECT_EQ(find_by_token(p.token), &p);
    }
  }
  EXPECT_EQ(find_by_name("exp")->prim, Prim::kExp);
  EXPECT_EQ(find_by_name("nope"), nullptr);
}

}  // namespace
}  // namespace nos::dsl
