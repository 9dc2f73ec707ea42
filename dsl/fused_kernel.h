// Internal to dsl/: the plan the fused CPU kernel runs (plain data made by fused.cpp) and its per-CPU entry points.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "dsl/primitives.h"

namespace nos::dsl::fused {

// Elements per block: every live register of a block (a few KiB each) stays in L1/L2 while the block is evaluated.
inline constexpr int64_t kBlock = 2048;
// Blocks per task of at::parallel_for: below this many elements (32 Ki, ATen's grain) a parameter runs serially.
inline constexpr int64_t kGrainBlocks = 16;

// One instruction of Program::code() as the kernel runs it.
struct KernelInstr {
  Prim prim = Prim::kG;
  double param = 0;
  int a = -1, b = -1;    // operand instructions (for m/v/y/adam/rmsprop: average indices, as in Program::Instr)
  bool scalar = false;   // a value known before the pass (constants, decays and what is computed from them only)
  double value = 0;      // the value when scalar (double, as the reference path keeps scalars)
  int slot = -1;         // tensor instructions that compute: the block buffer they write
  int alias = -1;        // tensor instructions that compute nothing (g, w, id, keep, an uncorrected m): see Source
  int random = -1;       // noise, anoise, drop: index of the tensor drawn before the pass
  // Tensor instructions whose every element is −k, 0 or k (sign(x) has k = 1; products of such values and
  // scalars keep the form): k, in the dtype's precision; NaN when not of that form.
  double three_valued = std::numeric_limits<double>::quiet_NaN();
  // exp of such an operand is a three-way select between exp(−k), exp(0) and exp(k), each computed with the
  // same vector exp the reference uses, so the result is the same to the bit (PowerSign's e^(sign(g)·sign(m))).
  bool exp_select = false;
  // A cheap instruction whose only use is one operand of +, − or ×: not evaluated into a buffer but recomputed
  // as that operand is read (one pass over the block fewer). See Fetch.
  bool inlined = false;
  // How + − × read each operand (fetch_a, fetch_b): directly, or through an inlined instruction.
  struct Fetch {
    enum Kind : int {
      kPlain = 0, kSign, kNeg, kExpSelect, kScaledAverage, kSignOfAverage,
      kPlusScalar, kTimesScalar, kScalarMinus, kMinusScalar  // x + s, x·s, s − x, x − s
    };
    int kind = kPlain;
    int source = -1;  // the register read (kPlain: the operand itself), or the average index (*Average kinds)
    double k = 0;     // kExpSelect: the three-valued k of the source; the *Scalar kinds: s
  };
  Fetch fetch_a, fetch_b;
};

// Where an aliasing instruction's value lives.
enum Source : int { kSourceGrad = 0, kSourceWeight = 1, kSourceAverage = 2, kSourceRandom = 3, kSourceInstr = 4 };

struct KernelAverage {
  Moment moment = Moment::kFirst;
  double beta = 0;
  double correction = 1;  // 1 − β^(t+1) with bias correction, else 1 (no division)
};

// Everything one fused update needs: the program with its scalars folded, and raw pointers to n elements each.
struct Plan {
  std::vector<KernelInstr> code;
  std::vector<int> alias_source;  // per instruction: a Source, for instructions with alias >= 0
  std::vector<KernelAverage> averages;
  int slots = 0;                  // block buffers the code needs at once
  double lr = 0;
  double weight_decay = 0;
  bool is_double = false;
  int64_t numel = 0;
  void* w = nullptr;
  const void* g = nullptr;
  std::vector<void*> average_data;
  std::vector<const void*> random_data;
};

// One entry point per CPU capability, compiled from fused_kernel.cpp with that capability's flags.
namespace DEFAULT {
void run(const Plan& plan);
}
namespace AVX2 {
void run(const Plan& plan);
}
namespace AVX512 {
void run(const Plan& plan);
}

}  // namespace nos::dsl::fused
