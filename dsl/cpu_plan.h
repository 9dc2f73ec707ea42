// Internal to dsl/: the plan the fused CPU kernel runs, plain data the planner (cpu_planner.h) makes, and the
// questions its passes ask of it.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "dsl/primitives.h"
#include "dsl/update_math.h"

namespace nos::dsl::cpu {

// Elements per block: every live register of a block (a few KiB each) stays in L1/L2 while the block is evaluated.
inline constexpr int64_t kBlock = 2048;
// Blocks per task of at::parallel_for: below this many elements (32 Ki, ATen's grain) a parameter runs serially.
inline constexpr int64_t kGrainBlocks = 16;

// One instruction of Program::code() as the kernel runs it.
struct KernelInstr {
  Prim prim = Prim::kG;
  double param = 0;
  std::array<double, 4> factors{};  // nadam and radam: step_factors at this step
  int a = -1, b = -1;    // operand instructions (for m/v/y/adam/rmsprop: average indices, as in Program::Instr)
  bool scalar = false;   // a value known before the pass (constants, decays and what is computed from them only)
  double value = 0;      // the value when scalar (double, as the reference path keeps scalars)
  int slot = -1;         // tensor instructions that compute: the block buffer they write
  int alias = -1;        // tensor instructions that compute nothing (g, w, id, keep, an uncorrected m): see Source
  int random = -1;       // noise, anoise, drop: index of the tensor drawn before the pass
  // Select-valued instructions. Every element of sign(x) is −1, 0 or +1, so every function of it applied with
  // scalars (exp, 1 + ·, ld · ·, log|·|, …) takes one of three values, fixed for the step: the kernel computes
  // them once per run with the same vector code it uses per element (so the values are the same to the bit) and
  // then only selects by the sign σ of the source(s). A product of two odd selects (values −a, 0, a: sign(x),
  // k·sign(x), −sign(x), …) has σ = σ₁·σ₂ (PowerSign's sign(g)·sign(m)); its zeros carry the sign of the other
  // factor, so it becomes a select again only through a function that maps ±0 alike (exp, 1 + ·, sign, …).
  enum Select : int {
    kNoSelect = 0,
    kSelectExact,   // a function of σ: three values, zeros included (read through kSelect1/kSelect2)
    kSelectOddPair  // a product of two odd selects: the value is ±c₊ by σ, a zero's sign is not known
  };
  int select = kNoSelect;
  bool odd = false;            // kSelectExact: the three values are −a, 0 and a
  int sources = 0;             // σ's sources (1 or 2): sign(source₁)·sign(source₂)
  int source[2] = {-1, -1};    // a register, or an average index when source_average
  bool source_average[2] = {false, false};  // the raw average (sign(m̂) = sign(m): the correction is ≥ 1)
  // A computing instruction no evaluated instruction reads (it is recomputed where it is read, or its value is
  // a select its readers take from the sources): not evaluated into a buffer.
  bool inlined = false;
  // norm and trust (Primitive::reduction): the stage whose pass writes the operand into reduction_data[reduction]
  // (ATen reduces it there); from the next stage on, `value` holds ‖x‖ (norm) or the ratio ‖w‖/‖x‖, or 1 (trust).
  int reduction = -1;
  int level = 0;
  // How + − × read each operand (fetch_a, fetch_b): directly, or through an instruction recomputed per element.
  struct Fetch {
    enum Kind : int {
      kPlain = 0, kNeg, kScaledAverage, kSelect1, kSelect2,
      kPlusScalar, kTimesScalar, kScalarMinus, kMinusScalar  // x + s, x·s, s − x, x − s
    };
    int kind = kPlain;
    int source = -1;  // the register read (kPlain: the operand), the average (kScaledAverage), the select (kSelect*)
    double k = 0;     // the *Scalar kinds: s
  };
  Fetch fetch_a, fetch_b;

  // Whether the kernel evaluates it: a pass over the block (not a scalar, an alias or an inlined instruction).
  bool evaluated() const { return !scalar && alias < 0 && !inlined; }
};

// Where an aliasing instruction's value lives.
enum Source : int { kSourceGrad = 0, kSourceWeight = 1, kSourceAverage = 2, kSourceRandom = 3, kSourceInstr = 4 };

struct KernelAverage {
  Moment moment = Moment::kFirst;
  double beta = 0;
  int partner = -1;           // vmax(β): the index of v(β) (partner_average), else -1
  BiasCorrection correction;  // at this step
};

// Everything one fused update needs: the program with its scalars folded, and raw pointers to n elements each.
// The planner's passes fill it in order (cpu_planner.h); the kernel (cpu_kernel.h) only reads it.
struct Plan {
  std::vector<KernelInstr> code;
  std::vector<int> alias_source;  // per instruction: a Source, for instructions with alias >= 0
  std::vector<KernelAverage> averages;
  int slots = 0;                  // block buffers the code needs at once
  // The instruction whose pass also updates the moving averages (vector by vector, before it reads them): the
  // first evaluated one, or −1 for the pass that applies a result held in memory or a scalar.
  int update_averages_at = -1;
  // Reductions (norm, trust) split the update into stages: stage s < stages − 1 writes the operands of the reductions
  // of level s into reduction_data (the first also updates the moving averages, whole blocks at a time), the last
  // applies the update; each evaluates only what it needs (evaluates[s][k]). One stage (evaluates empty) without.
  int stages = 1;
  int stage = 0;  // the one `run` makes now: the caller reduces the operands and sets the values between stages
  std::vector<std::vector<char>> evaluates;
  std::vector<void*> reduction_data;
  double lr = 0;
  double weight_decay = 0;
  bool is_double = false;
  int64_t numel = 0;
  void* w = nullptr;
  const void* g = nullptr;
  std::vector<void*> average_data;
  std::vector<const void*> random_data;
};

// Questions the passes ask of a plan, answered from what earlier passes decided.
//
// Whether register r holds a tensor (not a scalar, and r is a register at all).
bool holds_tensor(const Plan& plan, int r);
// Whether + − × instruction `in` reads its operands through fetches (it computes a tensor and is not a select).
bool is_fetching(const KernelInstr& in);
// What evaluated instruction k reads from registers: a select its sources, + − × their fetches' registers,
// anything else its tensor operands.
std::vector<int> register_reads(const Plan& plan, int k);

}  // namespace nos::dsl::cpu
