// Internal to the fused CPU kernel: BlockRunner's elementwise functions of one tensor operand (its other operand, if
// any, a scalar), each as the torch op of Program::direction's same case.
#pragma once

#include "dsl/cpu_block_runner.h"

namespace nos::dsl::cpu {
namespace CPU_CAPABILITY {

namespace {

// Calls f with the elementwise function x → value of an instruction with one tensor operand x (its other
// operand, if any, a scalar). Each follows the torch op of Program::direction's same case; the scalar side stays
// where the reference has it (b + s, s − b, b·s). The three groups below are separate so that a caller which can
// meet only one group instantiates only its functions (each instantiation over every fetch and sink costs compile
// time, not run time: the fused kernel is the build's longest file).
template <typename T>
template <typename F>
inline void BlockRunner<T>::with_unary(const KernelInstr& in, F f) const {
  switch (in.prim) {
    case Prim::kAdd:
    case Prim::kSub:
    case Prim::kMul: return with_scalar_arithmetic(in, f);
    case Prim::kDiv:
    case Prim::kMax:
    case Prim::kMin:
    case Prim::kPow: return with_scalar_function(in, f);
    default: return with_function(in, f);
  }
}

// neg, exp, log, sqrt, sign, abs, clip (and identity, keep).
template <typename T>
template <typename F>
inline void BlockRunner<T>::with_function(const KernelInstr& in, F f) const {
  switch (in.prim) {
    case Prim::kIdentity:
    case Prim::kKeep: return f([](const V& x) { return x; });
    case Prim::kNeg: return f([](const V& x) { return x.neg(); });
    case Prim::kExp: return f([](const V& x) { return x.exp(); });
    case Prim::kLog: return f([](const V& x) { return x.abs().log(); });
    case Prim::kSqrt: return f([](const V& x) { return x.abs().sqrt(); });
    case Prim::kSign: return f([](const V& x) { return sign_of(x); });
    case Prim::kClip: {
      const V lo(static_cast<T>(-in.param)), hi(static_cast<T>(in.param));
      return f([lo, hi](const V& x) { return at::vec::clamp(x, lo, hi); });
    }
    case Prim::kAbs: return f([](const V& x) { return x.abs(); });
    // No one-operand form: operands, drop (which multiplies by its mask), and the binary functions (above).
    case Prim::kAdd:
    case Prim::kSub:
    case Prim::kMul:
    case Prim::kDiv:
    case Prim::kMax:
    case Prim::kMin:
    case Prim::kPow:
    case Prim::kG:
    case Prim::kG2:
    case Prim::kG3:
    case Prim::kM:
    case Prim::kV:
    case Prim::kY:
    case Prim::kNoise:
    case Prim::kANoise:
    case Prim::kW:
    case Prim::kAdam:
    case Prim::kRMSProp:
    case Prim::kLD:
    case Prim::kCD:
    case Prim::kRD:
    case Prim::kConst:
    case Prim::kDrop:
    case Prim::kVMax:
    case Prim::kS:
    case Prim::kMP:
    case Prim::kT:
    case Prim::kTotal:
    case Prim::kAMSGrad:
    case Prim::kAdaGrad:
    case Prim::kNAdam:
    case Prim::kRAdam:
    case Prim::kNorm:
    case Prim::kTrust:
      break;
      // Do not add a default clause: every primitive must be handled here (-Werror=switch names a new one).
  }
  NOS_CHECK(false, "instruction " << static_cast<int>(in.prim) << " has no one-operand form");
}

// + − × with one scalar operand.
template <typename T>
template <typename F>
inline void BlockRunner<T>::with_scalar_arithmetic(const KernelInstr& in, F f) const {
  const bool scalar_left = is_scalar(in.a);
  const V s(scalar_of(scalar_left ? in.a : in.b));
  if (in.prim == Prim::kAdd) return f([s](const V& x) { return x + s; });
  if (in.prim == Prim::kMul) return f([s](const V& x) { return x * s; });
  NOS_CHECK(in.prim == Prim::kSub, "instruction " << static_cast<int>(in.prim) << " is not + − ×");
  if (scalar_left) return f([s](const V& x) { return s - x; });
  return f([s](const V& x) { return x - s; });
}

// / ^ max min with one scalar operand.
template <typename T>
template <typename F>
inline void BlockRunner<T>::with_scalar_function(const KernelInstr& in, F f) const {
  const bool scalar_left = is_scalar(in.a);
  const int scalar = scalar_left ? in.a : in.b;
  switch (in.prim) {
    case Prim::kDiv: {
      if (scalar_left) {
        // The reference: reciprocal(b + ε)·a.
        const V s(scalar_of(scalar)), eps(static_cast<T>(kDivEpsilon));
        return f([s, eps](const V& x) { return (x + eps).reciprocal() * s; });
      }
      const V s(static_cast<T>(plan_.code[scalar].value + kDivEpsilon));
      return f([s](const V& x) { return x / s; });
    }
    // The reference clamps by the scalar side (ATen's clamp keeps NaN).
    case Prim::kMax: {
      const V s(scalar_of(scalar));
      return f([s](const V& x) { return at::vec::clamp_min(x, s); });
    }
    case Prim::kMin: {
      const V s(scalar_of(scalar));
      return f([s](const V& x) { return at::vec::clamp_max(x, s); });
    }
    case Prim::kPow: {
      if (scalar_left) {
        const double base = plan_.code[scalar].value;
        const V s(static_cast<T>(base));
        if (base == 1.0) return f([](const V&) { return V(T(1)); });
        return f([s](const V& x) { return s.pow(x); });
      }
      const double e = plan_.code[scalar].value;
      return f([e](const V& x) { return pow_scalar(x, e); });
    }
    default: NOS_CHECK(false, "instruction " << static_cast<int>(in.prim) << " is not / ^ max min");
  }
}

}  // namespace

}  // namespace CPU_CAPABILITY
}  // namespace nos::dsl::cpu
