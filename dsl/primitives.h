// The one table of DSL primitives: every operand, unary and binary function is one row read by all passes.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

namespace nos::dsl {

// What a primitive is in the paper's token form: an operand (op1/op2), a unary function (u1/u2) or a binary
// function (b).
enum class Role : uint8_t { kOperand, kUnary, kBinary };

// Every primitive of the language. Adding one = adding an enumerator, its row in primitives.cpp and its
// evaluation in each execution path: every switch over Prim has a case per primitive and no default, and the build
// has -Werror=switch, so the compiler names each place that must learn it (docs/dsl.md, "Adding a primitive").
enum class Prim : uint8_t {
  // operands
  kG,        // g
  kG2,       // g²
  kG3,       // g³
  kM,        // m̂: bias-corrected moving average of g, decay β (0.9)
  kV,        // v̂: of g², decay β (0.999)
  kY,        // γ̂: of g³, decay β (0.999)
  kNoise,    // ε ~ N(0, 0.01)
  kANoise,   // annealed noise ~ N(0, 1/(1+t)^0.55)
  kW,        // the parameter itself
  kAdam,     // m̂/(√v̂ + 1e-8)
  kRMSProp,  // g/(√v̂ + 1e-8)
  kLD,       // linear decay
  kCD,       // cosine decay, n periods (0.5)
  kRD,       // restart decay, n restarts (1)
  kConst,    // a number literal
  kVMax,     // v̂max: bias-corrected running maximum of v (AMSGrad), decay β (0.999)
  kS,        // s: sum of g² over all steps (AdaGrad's accumulator), never bias-corrected
  kMP,       // mp: the raw moving average of g before this step's update (Lion's state), decay β (0.99)
  kT,        // t: the update's number, 1 at the first update
  kTotal,    // T: the run's configured number of steps
  kAMSGrad,  // m̂/(√v̂max + ε), ε 1e-8
  kAdaGrad,  // g/(√s + ε), ε 1e-10
  kNAdam,    // PyTorch's NAdam direction (ε 1e-8)
  kRAdam,    // PyTorch's RAdam direction (ε 1e-8)
  // unary functions
  kIdentity,  // token form only ("id"); vanishes in the tree
  kNeg,
  kExp,
  kLog,   // log|x|
  kSqrt,  // √|x|
  kSign,
  kClip,  // clip(x, c) to [−c, c]
  kDrop,  // drop(x, p): zero each element with probability p, no rescaling
  kAbs,   // |x|
  kNorm,  // ‖x‖₂ over the parameter tensor (or slice), a reduction
  kTrust, // trust(x) = x·‖w‖/‖x‖ (1 where either norm is 0): LARS/LAMB's trust ratio, a reduction
  // binary functions
  kAdd,
  kSub,
  kMul,
  kDiv,   // x/(y + 1e-8)
  kPow,   // x^y
  kKeep,  // keep(x, y) = x (the paper's keep-left)
  kMax,   // max(x, y), NaN if either is
  kMin,   // min(x, y), NaN if either is
};
inline constexpr int kNumPrims = static_cast<int>(Prim::kMin) + 1;

// Which moving average a primitive needs maintained per parameter.
// Each (moment, β) a rule reads is one buffer per parameter, updated before the rule is evaluated, in this order
// (so vmax(β) sees v(β) of this step), except kPrev, updated after it.
enum class Moment : uint8_t {
  kNone,
  kFirst,      // m ← βm + (1−β)g
  kSecond,     // v ← βv + (1−β)g²
  kThird,      // y ← βy + (1−β)g³
  kMaxSecond,  // vmax ← max(vmax, v(β)) after v(β)'s update (v(β) is kept beside it)
  kSum,        // s ← s + g² (β 0; never bias-corrected)
  kPrev,       // mp: read before its update m ← βm + (1−β)g, which follows the rule (never bias-corrected)
};

// One moving average a primitive reads: its moment and its decay β; β NaN means the primitive's own parameter (m(0.8)
// reads m with β = 0.8, adam reads m(0.9) and v(0.999) whatever it is written with).
struct AverageRead {
  Moment moment = Moment::kNone;
  double beta = std::numeric_limits<double>::quiet_NaN();
};

// What a primitive computes on plain numbers, in double: its operands' values a and b, its parameter, and the
// step t and the run's steps T (for the decays).
struct FoldArgs {
  double a = 0;
  double b = 0;
  double param = std::numeric_limits<double>::quiet_NaN();
  int64_t t = 0;
  int64_t total_steps = 0;
};
// A primitive's value on plain numbers, for the primitives that have one (constants, decays, the functions but
// drop); nullptr for operands that are tensors and for random primitives. Canonical form folds constants with it
// and every execution path folds its scalar instructions with it (dsl/program.h, fold_scalar).
using Fold = double (*)(const FoldArgs&);

// The numeric parameter a primitive takes (m(0.8), cd(2), clip(x, 1e-3)); a primitive without one has kind kNone.
struct ParamSpec {
  enum class Kind : uint8_t { kNone, kOptional, kRequired };
  Kind kind = Kind::kNone;
  std::string_view name;  // "beta", "n", "c", "p", "value"
  double default_value = std::numeric_limits<double>::quiet_NaN();
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_inclusive = true;
  bool max_inclusive = true;
  bool contains(double x) const;
  std::string_view range_text;  // "0 <= beta < 1", for messages
};

// One row of the table.
struct Primitive {
  Prim prim;
  Role role;
  std::string_view name;    // as written in infix: "g2", "exp", "keep"; binary operators use their symbol
  std::string_view token;   // as written in token form: "g2", "exp", "add"
  std::string_view symbol;  // infix operator of a binary ("+", "^"); empty for functions called by name
  int precedence;           // infix binding strength of a binary operator (higher binds tighter), else 0
  bool commutative;
  ParamSpec param;
  std::vector<double> vocabulary;  // parameters the controller's default vocabulary offers (paper's list)
  // The moving averages it reads, the first into Program::Instr::a, the second into b (empty reads: none).
  std::array<AverageRead, 2> reads;
  bool random;                     // draws random numbers
  bool uses_decay;                 // depends on t and T
  Fold fold;                       // its value on plain numbers, or nullptr (see Fold)
  std::string_view doc;            // one line for docs and `nos primitives`
  // In the default token vocabulary (dsl::default_vocabulary, the paper's lists); the primitives added later (issue
  // 16's) are opt-in through a config's space section, so old configs keep their search space.
  bool default_vocabulary = true;
  // A reduction over the whole tensor (norm, trust): the fused CPU kernel materialises its operand in a pass of its own
  // and reduces it with ATen (docs/dsl.md, "Fused kernel"); the generated CUDA kernel has no form for it, so on CUDA
  // a rule with one runs the reference path.
  bool reduction = false;
};

// The table, indexed by Prim.
const std::vector<Primitive>& primitives();
inline const Primitive& primitive(Prim p) { return primitives()[static_cast<size_t>(p)]; }

// Lookup by infix name / token text; nullptr when unknown.
const Primitive* find_by_name(std::string_view name);
const Primitive* find_by_token(std::string_view token);

// Whether a primitive's value is one moving average, bias-corrected where it applies (m, v, y, vmax, mp, s): it
// reads exactly one average, through Program::Instr::a, with the decay its own parameter gives (or a fixed one, for
// s). The fused paths read it from the buffer.
bool is_average(Prim p);

// Decay values as TensorFlow's sign_decay.py computes them (t clipped to T); the folds of ld, cd and rd.
double linear_decay(int64_t t, int64_t T);
double cosine_decay(int64_t t, int64_t T, double n);
double restart_decay(int64_t t, int64_t T, double n);

// Numbers added to denominators and square roots, as in Adam (ε = 1e-8).
inline constexpr double kDivEpsilon = 1e-8;
// Variance of `noise` (Bello et al. 2017: ε ~ N(0, 0.01)).
inline constexpr double kNoiseVariance = 0.01;
// Exponent of the annealed noise variance 1/(1+t)^0.55 (Neelakantan et al. 2015, used by Bello et al.).
inline constexpr double kANoiseExponent = 0.55;

}  // namespace nos::dsl
