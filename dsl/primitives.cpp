// The table of primitives, one row each: names, token, parameter, vocabulary, averages read, fold, documentation.
#include "common/text.h"
#include "dsl/primitives.h"

#include <algorithm>
#include <cmath>

#include "dsl/error.h"

namespace nos::dsl {

bool ParamSpec::contains(double x) const {
  if (!std::isfinite(x)) return false;
  if (min_inclusive ? x < min : x <= min) return false;
  if (max_inclusive ? x > max : x >= max) return false;
  return true;
}

// Bello et al. 2017, §3 (decay functions), with TensorFlow's sign_decay.py formulas: t is clipped to T.
double linear_decay(int64_t t, int64_t T) {
  NOS_CHECK(T > 0, "linear decay needs T > 0");
  double s = static_cast<double>(std::min(t, T));
  return std::max(0.0, (static_cast<double>(T) - s) / static_cast<double>(T));
}

double cosine_decay(int64_t t, int64_t T, double n) {
  NOS_CHECK(T > 0, "cosine decay needs T > 0");
  double s = static_cast<double>(std::min(t, T));
  return 0.5 * (1.0 + std::cos(M_PI * 2.0 * n * s / static_cast<double>(T)));
}

double restart_decay(int64_t t, int64_t T, double n) {
  NOS_CHECK(T > 0, "restart decay needs T > 0");
  double s = static_cast<double>(std::min(t, T));
  double fraction = std::fmod(n * s, static_cast<double>(T)) / static_cast<double>(T);
  return 0.5 * (1.0 + std::cos(M_PI * fraction));
}

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
using K = ParamSpec::Kind;
using M = Moment;

// The decays of the moving averages when not written (Kingma & Ba 2015: β₁ = 0.9, β₂ = 0.999; Bello et al. use
// 0.999 for γ̂ too); adam and rmsprop read these.
constexpr double kBetaFirst = 0.9;
constexpr double kBetaSecond = 0.999;
constexpr double kBetaThird = 0.999;
// Lion's β2, the decay of its state (Chen et al. 2023, Algorithm 2), mp's default.
constexpr double kBetaLion = 0.99;
// AdaGrad's ε (PyTorch's Adagrad default).
constexpr double kAdaGradEpsilon = 1e-10;

ParamSpec none() { return {}; }
ParamSpec beta(double d) { return {K::kOptional, "beta", d, 0.0, 1.0, true, false, "0 <= beta < 1"}; }
ParamSpec epsilon(double d) { return {K::kOptional, "eps", d, 0.0, kInf, false, true, "eps > 0"}; }
ParamSpec periods(double d) { return {K::kOptional, "n", d, 0.0, kInf, false, true, "n > 0"}; }

// Reads columns: nothing, one average with the primitive's own β, or fixed averages into a and b.
std::array<AverageRead, 2> no_reads() { return {}; }
std::array<AverageRead, 2> own(Moment m) { return {AverageRead{m, kNaN}, AverageRead{}}; }
std::array<AverageRead, 2> fixed(AverageRead a, AverageRead b) { return {a, b}; }

using F = const FoldArgs&;

// The operands' rows, in Prim order.
std::vector<Primitive> operand_rows() {
  // clang-format off
  return {
    // prim           role            name       token      sym  prec comm param        vocabulary  reads                random decay fold
    {Prim::kG,        Role::kOperand, "g",       "g",       "",  0, false, none(),       {},         no_reads(),          false, false, nullptr,
     "the gradient"},
    {Prim::kG2,       Role::kOperand, "g2",      "g2",      "",  0, false, none(),       {},         no_reads(),          false, false, nullptr,
     "g squared"},
    {Prim::kG3,       Role::kOperand, "g3",      "g3",      "",  0, false, none(),       {},         no_reads(),          false, false, nullptr,
     "g cubed"},
    {Prim::kM,        Role::kOperand, "m",       "m",       "",  0, false, beta(kBetaFirst), {},     own(M::kFirst),      false, false, nullptr,
     "moving average of g, bias-corrected (m(beta), beta 0.9)"},
    {Prim::kV,        Role::kOperand, "v",       "v",       "",  0, false, beta(kBetaSecond), {},    own(M::kSecond),     false, false, nullptr,
     "moving average of g2, bias-corrected (v(beta), beta 0.999)"},
    {Prim::kY,        Role::kOperand, "y",       "y",       "",  0, false, beta(kBetaThird), {},     own(M::kThird),      false, false, nullptr,
     "moving average of g3, bias-corrected (y(beta), beta 0.999)"},
    {Prim::kNoise,    Role::kOperand, "noise",   "noise",   "",  0, false, none(),       {},         no_reads(),          true,  false, nullptr,
     "Gaussian noise N(0, 0.01), fresh each step and element"},
    {Prim::kANoise,   Role::kOperand, "anoise",  "anoise",  "",  0, false, none(),       {},         no_reads(),          true,  false, nullptr,
     "annealed Gaussian noise N(0, 1/(1+t)^0.55)"},
    {Prim::kW,        Role::kOperand, "w",       "w",       "",  0, false, none(),       {},         no_reads(),          false, false, nullptr,
     "the parameter (weight) itself"},
    {Prim::kAdam,     Role::kOperand, "adam",    "adam",    "",  0, false, epsilon(kDivEpsilon), {},
     fixed({M::kFirst, kBetaFirst}, {M::kSecond, kBetaSecond}),                                                     false, false, nullptr,
     "m/(sqrt(v) + eps), Adam's direction (adam(eps), eps 1e-8)"},
    {Prim::kRMSProp,  Role::kOperand, "rmsprop", "rmsprop", "",  0, false, epsilon(kDivEpsilon), {},
     fixed({}, {M::kSecond, kBetaSecond}),                                                                          false, false, nullptr,
     "g/(sqrt(v) + eps), RMSProp's direction (rmsprop(eps), eps 1e-8)"},
    {Prim::kLD,       Role::kOperand, "ld",      "ld",      "",  0, false, none(),       {},         no_reads(),          false, true,
     [](F x) { return linear_decay(x.t, x.total_steps); },
     "linear decay max(0, 1 - min(t,T)/T)"},
    {Prim::kCD,       Role::kOperand, "cd",      "cd",      "",  0, false, periods(0.5), {},         no_reads(),          false, true,
     [](F x) { return cosine_decay(x.t, x.total_steps, x.param); },
     "cosine decay 0.5(1 + cos(2 pi n min(t,T)/T)), n 0.5"},
    {Prim::kRD,       Role::kOperand, "rd",      "rd",      "",  0, false, periods(1.0), {},         no_reads(),          false, true,
     [](F x) { return restart_decay(x.t, x.total_steps, x.param); },
     "restart decay 0.5(1 + cos(pi ((n min(t,T)) mod T)/T)), n 1"},
    {Prim::kConst,    Role::kOperand, "",        "",        "",  0, false, {K::kRequired, "value", kNaN, -kInf, kInf, true, true, "a finite number"},
                                                                                         {1.0, 2.0}, no_reads(),          false, false,
     [](F x) { return x.param; },
     "a number literal"},
    // Added with issue 16; opt-in in a config's vocabulary (default_vocabulary false).
    {Prim::kVMax,     Role::kOperand, "vmax",    "vmax",    "",  0, false, beta(kBetaSecond), {},    own(M::kMaxSecond),  false, false, nullptr,
     "running maximum of v(beta), bias-corrected as v (AMSGrad; vmax(beta), beta 0.999)", false},
    {Prim::kS,        Role::kOperand, "s",       "s",       "",  0, false, none(),       {},         fixed({M::kSum, 0.0}, {}), false, false, nullptr,
     "sum of g2 over all steps (AdaGrad's accumulator), never bias-corrected", false},
    {Prim::kMP,       Role::kOperand, "mp",      "mp",      "",  0, false, beta(kBetaLion), {},      own(M::kPrev),       false, false, nullptr,
     "raw moving average of g before this step's update (Lion's state; mp(beta), beta 0.99)", false},
    {Prim::kT,        Role::kOperand, "t",       "t",       "",  0, false, none(),       {},         no_reads(),          false, false,
     [](F x) { return static_cast<double>(x.t + 1); },
     "the update's number, 1 at the first update", false},
    {Prim::kTotal,    Role::kOperand, "T",       "T",       "",  0, false, none(),       {},         no_reads(),          false, true,
     [](F x) { return static_cast<double>(x.total_steps); },
     "the run's configured number of steps", false},
    {Prim::kAMSGrad,  Role::kOperand, "amsgrad", "amsgrad", "",  0, false, epsilon(kDivEpsilon), {},
     fixed({M::kFirst, kBetaFirst}, {M::kMaxSecond, kBetaSecond}),                                                  false, false, nullptr,
     "m/(sqrt(vmax) + eps), AMSGrad's direction (amsgrad(eps), eps 1e-8)", false},
    {Prim::kAdaGrad,  Role::kOperand, "adagrad", "adagrad", "",  0, false, epsilon(kAdaGradEpsilon), {},
     fixed({}, {M::kSum, 0.0}),                                                                                     false, false, nullptr,
     "g/(sqrt(s) + eps), AdaGrad's direction (adagrad(eps), eps 1e-10)", false},
    {Prim::kNAdam,    Role::kOperand, "nadam",   "nadam",   "",  0, false, epsilon(kDivEpsilon), {},
     fixed({M::kFirst, kBetaFirst}, {M::kSecond, kBetaSecond}),                                                     false, false, nullptr,
     "NAdam's direction as PyTorch 2 computes it (nadam(eps), eps 1e-8)", false},
    {Prim::kRAdam,    Role::kOperand, "radam",   "radam",   "",  0, false, epsilon(kDivEpsilon), {},
     fixed({M::kFirst, kBetaFirst}, {M::kSecond, kBetaSecond}),                                                     false, false, nullptr,
     "RAdam's direction as PyTorch computes it (radam(eps), eps 1e-8)", false},
  };
  // clang-format on
}

// The unary and binary functions' rows, in Prim order.
std::vector<Primitive> function_rows() {
  // clang-format off
  return {
    // prim           role            name       token      sym  prec comm param        vocabulary  reads                random decay fold
    {Prim::kIdentity, Role::kUnary,   "id",      "id",      "",  0, false, none(),       {},         no_reads(),          false, false,
     [](F x) { return x.a; },
     "identity (token form)"},
    {Prim::kNeg,      Role::kUnary,   "neg",     "neg",     "",  0, false, none(),       {},         no_reads(),          false, false,
     [](F x) { return -x.a; },
     "negation, written -x"},
    {Prim::kExp,      Role::kUnary,   "exp",     "exp",     "",  0, false, none(),       {},         no_reads(),          false, false,
     [](F x) { return std::exp(x.a); },
     "e^x"},
    {Prim::kLog,      Role::kUnary,   "log",     "log",     "",  0, false, none(),       {},         no_reads(),          false, false,
     [](F x) { return std::log(std::fabs(x.a)); },
     "log|x|"},
    {Prim::kSqrt,     Role::kUnary,   "sqrt",    "sqrt",    "",  0, false, none(),       {},         no_reads(),          false, false,
     [](F x) { return std::sqrt(std::fabs(x.a)); },
     "sqrt|x|"},
    {Prim::kSign,     Role::kUnary,   "sign",    "sign",    "",  0, false, none(),       {},         no_reads(),          false, false,
     [](F x) { return x.a > 0 ? 1.0 : x.a < 0 ? -1.0 : 0.0; },  // ATen's sign: sign(0) = sign(NaN) = 0
     "sign(x), with sign(0) = 0"},
    {Prim::kClip,     Role::kUnary,   "clip",    "clip",    "",  0, false, {K::kRequired, "c", kNaN, 0.0, kInf, false, true, "c > 0"},
                                                                                         {1e-5, 1e-4, 1e-3}, no_reads(),  false, false,
     [](F x) { return std::clamp(x.a, -x.param, x.param); },
     "clip(x, c): x clipped to [-c, c]"},
    {Prim::kDrop,     Role::kUnary,   "drop",    "drop",    "",  0, false, {K::kRequired, "p", kNaN, 0.0, 1.0, true, false, "0 <= p < 1"},
                                                                                         {0.1, 0.3, 0.5}, no_reads(),     true,  false, nullptr,
     "drop(x, p): each element zeroed with probability p, no rescaling"},
    {Prim::kAbs,      Role::kUnary,   "abs",     "abs",     "",  0, false, none(),       {},         no_reads(),          false, false,
     [](F x) { return std::fabs(x.a); },
     "|x|", false},
    {Prim::kNorm,     Role::kUnary,   "norm",    "norm",    "",  0, false, none(),       {},         no_reads(),          false, false, nullptr,
     "L2 norm of x over the parameter tensor (or slice), the same for every element", false, true},
    {Prim::kTrust,    Role::kUnary,   "trust",   "trust",   "",  0, false, none(),       {},         no_reads(),          false, false, nullptr,
     "x * norm(w)/norm(x), x itself where either norm is 0 (LARS/LAMB's trust ratio)", false, true},
    {Prim::kAdd,      Role::kBinary,  "+",       "add",     "+", 1, true,  none(),       {},         no_reads(),          false, false,
     [](F x) { return x.a + x.b; },
     "x + y"},
    {Prim::kSub,      Role::kBinary,  "-",       "sub",     "-", 1, false, none(),       {},         no_reads(),          false, false,
     [](F x) { return x.a - x.b; },
     "x - y"},
    {Prim::kMul,      Role::kBinary,  "*",       "mul",     "*", 2, true,  none(),       {},         no_reads(),          false, false,
     [](F x) { return x.a * x.b; },
     "x * y"},
    {Prim::kDiv,      Role::kBinary,  "/",       "div",     "/", 2, false, none(),       {},         no_reads(),          false, false,
     [](F x) { return x.a / (x.b + kDivEpsilon); },
     "x / (y + 1e-8)"},
    {Prim::kPow,      Role::kBinary,  "^",       "pow",     "^", 4, false, none(),       {},         no_reads(),          false, false,
     [](F x) { return std::pow(x.a, x.b); },
     "x ^ y"},
    {Prim::kKeep,     Role::kBinary,  "keep",    "keep",    "",  0, false, none(),       {},         no_reads(),          false, false,
     [](F x) { return x.a; },
     "keep(x, y) = x (keep left)"},
    // NaN in, NaN out, as at::maximum and at::minimum (std::fmax would return the other operand).
    {Prim::kMax,      Role::kBinary,  "max",     "max",     "",  0, true,  none(),       {},         no_reads(),          false, false,
     [](F x) { return std::isnan(x.a) || std::isnan(x.b) ? kNaN : std::max(x.a, x.b); },
     "max(x, y), NaN if either is", false},
    {Prim::kMin,      Role::kBinary,  "min",     "min",     "",  0, true,  none(),       {},         no_reads(),          false, false,
     [](F x) { return std::isnan(x.a) || std::isnan(x.b) ? kNaN : std::min(x.a, x.b); },
     "min(x, y), NaN if either is", false},
  };
  // clang-format on
}

std::vector<Primitive> build_table() {
  std::vector<Primitive> t = operand_rows();
  for (Primitive& row : function_rows()) t.push_back(std::move(row));
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

bool is_average(Prim p) {
  const Primitive& row = primitive(p);
  return row.role == Role::kOperand && row.reads[0].moment != Moment::kNone &&
         (std::isnan(row.reads[0].beta) || row.param.kind == ParamSpec::Kind::kNone) &&
         row.reads[1].moment == Moment::kNone;
}

}  // namespace nos::dsl
