// Internal to dsl/: the plan the fused CPU kernel runs (plain data made by fused.cpp) and its per-CPU entry points.
#pragma once

#include <cstdint>
#include <vector>

#include "dsl/primitives.h"

namespace nos::dsl::fused {

// Elements per block: every live register of a block (a few KiB each) stays in L1/L2 while the block is evaluated.
inline constexpr int64_t kBlock = 512;
// Blocks per task of at::parallel_for: below this many elements (32 Ki, ATen's grain) a parameter runs serially.
inline constexpr int64_t kGrainBlocks = 64;

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

}  // namespace nos::dsl::fused
