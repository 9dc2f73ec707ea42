// The table of primitives: names, tokens, parameters, vocabulary, state and documentation, one row each.
#include "dsl/primitives.h"

#include <cmath>

#include "dsl/error.h"

namespace nos::dsl {

bool ParamSpec::contains(double x) const {
  if (!std::isfinite(x)) return false;
  if (min_inclusive ? x < min : x <= min) return false;
  if (max_inclusive ? x > max : x >= max) return false;
  return true;
}

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
using K = ParamSpec::Kind;

ParamSpec none() { return {}; }
ParamSpec beta(double d) { return {K::kOptional, "beta", d, 0.0, 1.0, true, false, "0 <= beta < 1"}; }
ParamSpec periods(double d) { return {K::kOptional, "n", d, 0.0, kInf, false, true, "n > 0"}; }

std::vector<Primitive> build_table() {
  // clang-format off
  std::vector<Primitive> t = {
    // prim            role            name       token      sym  prec comm param        vocabulary       moment            random uses_decay doc
    {Prim::kG,        Role::kOperand, "g",       "g",       "",  0, false, none(),       {},              Moment::kNone,    false, false, "the gradient"},
    {Prim::kG2,       Role::kOperand, "g2",      "g2",      "",  0, false, none(),       {},              Moment::kNone,    false, false, "g squared"},
    {Prim::kG3,       Role::kOperand, "g3",      "g3",      "",  0, false, none(),       {},              Moment::kNone,    false, false, "g cubed"},
    {Prim::kM,        Role::kOperand, "m",       "m",       "",  0, false, beta(0.9),    {},              Moment::kFirst,   false, false, "moving average of g, bias-corrected (m(beta), beta 0.9)"},
    {Prim::kV,        Role::kOperand, "v",       "v",       "",  0, false, beta(0.999),  {},              Moment::kSecond,  false, false, "moving average of g2, bias-corrected (v(beta), beta 0.999)"},
    {Prim::kY,        Role::kOperand, "y",       "y",       "",  0, false, beta(0.999),  {},              Moment::kThird,   false, false, "moving average of g3, bias-corrected (y(beta), beta 0.999)"},
    {Prim::kNoise,    Role::kOperand, "noise",   "noise",   "",  0, false, none(),       {},              Moment::kNone,    true,  false, "Gaussian noise N(0, 0.01), fresh each step and element"},
    {Prim::kANoise,   Role::kOperand, "anoise",  "anoise",  "",  0, false, none(),       {},              Moment::kNone,    true,  false, "annealed Gaussian noise N(0, 1/(1+t)^0.55)"},
    {Prim::kW,        Role::kOperand, "w",       "w",       "",  0, false, none(),       {},              Moment::kNone,    false, false, "the parameter (weight) itself"},
    {Prim::kAdam,     Role::kOperand, "adam",    "adam",    "",  0, false, none(),       {},              Moment::kNone,    false, false, "m/(sqrt(v) + 1e-8), Adam's direction"},
    {Prim::kRMSProp,  Role::kOperand, "rmsprop", "rmsprop", "",  0, false, none(),       {},              Moment::kNone,    false, false, "g/(sqrt(v) + 1e-8), RMSProp's direction"},
    {Prim::kLD,       Role::kOperand, "ld",      "ld",      "",  0, false, none(),       {},              Moment::kNone,    false, true,  "linear decay max(0, 1 - min(t,T)/T)"},
    {Prim::kCD,       Role::kOperand, "cd",      "cd",      "",  0, false, periods(0.5), {},              Moment::kNone,    false, true,  "cosine decay 0.5(1 + cos(2 pi n min(t,T)/T)), n 0.5"},
    {Prim::kRD,       Role::kOperand, "rd",      "rd",      "",  0, false, periods(1.0), {},              Moment::kNone,    false, true,  "restart decay 0.5(1 + cos(pi ((n min(t,T)) mod T)/T)), n 1"},
    {Prim::kConst,    Role::kOperand, "",        "",        "",  0, false, {K::kRequired, "value", kNaN, -kInf, kInf, true, true, "a finite number"},
                                                                                         {1.0, 2.0},      Moment::kNone,    false, false, "a number literal"},
    {Prim::kIdentity, Role::kUnary,   "id",      "id",      "",  0, false, none(),       {},              Moment::kNone,    false, false, "identity (token form)"},
    {Prim::kNeg,      Role::kUnary,   "neg",     "neg",     "",  0, false, none(),       {},              Moment::kNone,    false, false, "negation, written -x"},
    {Prim::kExp,      Role::kUnary,   "exp",     "exp",     "",  0, false, none(),       {},              Moment::kNone,    false, false, "e^x"},
    {Prim::kLog,      Role::kUnary,   "log",     "log",     "",  0, false, none(),       {},              Moment::kNone,    false, false, "log|x|"},
    {Prim::kSqrt,     Role::kUnary,   "sqrt",    "sqrt",    "",  0, false, none(),       {},              Moment::kNone,    false, false, "sqrt|x|"},
    {Prim::kSign,     Role::kUnary,   "sign",    "sign",    "",  0, false, none(),       {},              Moment::kNone,    false, false, "sign(x), with sign(0) = 0"},
    {Prim::kClip,     Role::kUnary,   "clip",    "clip",    "",  0, false, {K::kRequired, "c", kNaN, 0.0, kInf, false, true, "c > 0"},
                                                                                         {1e-5, 1e-4, 1e-3}, Moment::kNone, false, false, "clip(x, c): x clipped to [-c, c]"},
    {Prim::kDrop,     Role::kUnary,   "drop",    "drop",    "",  0, false, {K::kRequired, "p", kNaN, 0.0, 1.0, true, false, "0 <= p < 1"},
                                                                                         {0.1, 0.3, 0.5}, Moment::kNone,    true,  false, "drop(x, p): each element zeroed with probability p, no rescaling"},
    {Prim::kAdd,      Role::kBinary,  "+",       "add",     "+", 1, true,  none(),       {},              Moment::kNone,    false, false, "x + y"},
    {Prim::kSub,      Role::kBinary,  "-",       "sub",     "-", 1, false, none(),       {},              Moment::kNone,    false, false, "x - y"},
    {Prim::kMul,      Role::kBinary,  "*",       "mul",     "*", 2, true,  none(),       {},              Moment::kNone,    false, false, "x * y"},
    {Prim::kDiv,      Role::kBinary,  "/",       "div",     "/", 2, false, none(),       {},              Moment::kNone,    false, false, "x / (y + 1e-8)"},
    {Prim::kPow,      Role::kBinary,  "^",       "pow",     "^", 4, false, none(),       {},              Moment::kNone,    false, false, "x ^ y"},
    {Prim::kKeep,     Role::kBinary,  "keep",    "keep",    "",  0, false, none(),       {},              Moment::kNone,    false, false, "keep(x, y) = x (keep left)"},
  };
  // clang-format on
  for (size_t i = 0; i < t.size(); ++i) {
    NOS_CHECK(static_cast<size_t>(t[i].prim) == i, "primitive table row " << i << " is out of order");
  }
  NOS_CHECK(static_cast<int>(t.size()) == kNumPrims, "primitive table has " << t.size() << " rows");
  return t;
}
}  // namespace

const std::vector<Primitive>& primitives() {
  static const std::vector<Primitive> table = build_table();
  return table;
}

const Primitive* find_by_name(std::string_view name) {
  if (name.empty()) return nullptr;
  for (const Primitive& p : primitives()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const Primitive* find_by_token(std::string_view token) {
  if (token.empty()) return nullptr;
  for (const Primitive& p : primitives()) {
    if (p.token == token || (!p.symbol.empty() && p.symbol == token)) return &p;
  }
  return nullptr;
}

}  // namespace nos::dsl
