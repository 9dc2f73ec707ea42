// Internal to the fused CPU kernel: BlockRunner::evaluate, one computing instruction over the block, and its cases
// (adam and its kin, nadam and radam, drop, + − × through fetches, / ^ max min).
#pragma once

#include "dsl/cpu_block_functions.h"
#include "dsl/cpu_block_operands.h"
#include "dsl/cpu_block_runner.h"

namespace nos::dsl::cpu {
namespace CPU_CAPABILITY {

namespace {

// adam, amsgrad, rmsprop and adagrad: m̂ / (√v̂ + ε), √v̂ as the reference computes it, sqrt(v) ·
// (1/sqrt(correction)); amsgrad has vmax for v, rmsprop g for m̂, adagrad both g and s. Each combination of
// corrections is its own loop (the branch hoisted out of it).
template <typename T>
template <typename Sink>
inline void BlockRunner<T>::evaluate_adam(const KernelInstr& in, const T* g, const Block<T>& blk,
                                          const Sink& out) const {
  const V eps(static_cast<T>(in.param));
  const bool has_m = in.prim == Prim::kAdam || in.prim == Prim::kAMSGrad;
  const T* v = blk.averages[in.b];
  const T* m = has_m ? blk.averages[in.a] : g;
  const bool m_corrected = has_m && corrected_[in.a];
  const V cm = m_corrected ? correction_[in.a] : V(T(1));
  const V cv = sqrt_correction_[in.b];
  if (!m_corrected && !corrected_[in.b]) {
    each(out, [&](int64_t j) { return V::loadu(m + j) / (V::loadu(v + j).sqrt() + eps); });
  } else if (!corrected_[in.b]) {
    each(out, [&](int64_t j) { return V::loadu(m + j) * cm / (V::loadu(v + j).sqrt() + eps); });
  } else if (!m_corrected) {
    each(out, [&](int64_t j) { return V::loadu(m + j) / (V::loadu(v + j).sqrt() * cv + eps); });
  } else {
    each(out, [&](int64_t j) { return V::loadu(m + j) * cm / (V::loadu(v + j).sqrt() * cv + eps); });
  }
}

// nadam and radam with their per-step factors (KernelInstr::factors), each op as Program::direction's case:
// nadam (g·f0 + m·f1)/(√(v/f2) + ε); radam m/f3, times reciprocal(√v + ε)·f2 and f1 once rectified (f0 = 1).
template <typename T>
template <typename Sink>
inline void BlockRunner<T>::evaluate_schedule(const KernelInstr& in, const T* g, const Block<T>& blk,
                                              const Sink& out) const {
  const T* m = blk.averages[in.a];
  const T* v = blk.averages[in.b];
  const V eps(static_cast<T>(in.param));
  const V f0(static_cast<T>(in.factors[0])), f1(static_cast<T>(in.factors[1])), f2(static_cast<T>(in.factors[2])),
      f3(static_cast<T>(in.factors[3]));
  if (in.prim == Prim::kNAdam) {
    each(out, [&](int64_t j) {
      return (V::loadu(g + j) * f0 + V::loadu(m + j) * f1) / ((V::loadu(v + j) / f2).sqrt() + eps);
    });
  } else if (in.factors[0] == 0) {
    each(out, [&](int64_t j) { return V::loadu(m + j) / f3; });
  } else {
    each(out, [&](int64_t j) {
      return V::loadu(m + j) / f3 * ((V::loadu(v + j).sqrt() + eps).reciprocal() * f2) * f1;
    });
  }
}

// drop(x, p): x times the keep mask drawn before the pass.
template <typename T>
template <typename Sink>
inline void BlockRunner<T>::evaluate_drop(const KernelInstr& in, const Block<T>& blk, const Sink& out) const {
  const T* keep = blk.random[in.random];
  if (is_scalar(in.a)) {
    const V x(scalar_of(in.a));
    each(out, [&](int64_t j) { return x * V::loadu(keep + j); });
  } else {
    const T* pa = ptr_[in.a];
    each(out, [&](int64_t j) { return V::loadu(pa + j) * V::loadu(keep + j); });
  }
}

// + − ×: operands through their fetches (an inlined neg, select or corrected average is computed as it is
// read); with a scalar operand, the one-operand function over the tensor side's fetch.
template <typename T>
template <typename Sink>
inline void BlockRunner<T>::evaluate_fetching(const KernelInstr& in, const Block<T>& blk, const Sink& out) const {
  if (is_scalar(in.a) != is_scalar(in.b)) {
    const KernelInstr::Fetch& side = is_scalar(in.a) ? in.fetch_b : in.fetch_a;
    with_scalar_arithmetic(in, [&](auto op) {
      with_fetch(side, blk, [&](auto fx) { each(out, [&](int64_t j) { return op(fx(j)); }); });
    });
  } else if (in.prim == Prim::kAdd) {
    binary_fetched(in, blk, out, [](const V& x, const V& y) { return x + y; });
  } else if (in.prim == Prim::kSub) {
    binary_fetched(in, blk, out, [](const V& x, const V& y) { return x - y; });
  } else {
    binary_fetched(in, blk, out, [](const V& x, const V& y) { return x * y; });
  }
}

// /, ^, max and min: with a scalar operand, the one-operand function over the tensor side.
template <typename T>
template <typename Sink>
inline void BlockRunner<T>::evaluate_div_pow(const KernelInstr& in, const Block<T>& blk, const Sink& out) const {
  const T* pa = is_scalar(in.a) ? nullptr : ptr_[in.a];
  const T* pb = is_scalar(in.b) ? nullptr : ptr_[in.b];
  if (is_scalar(in.a) != is_scalar(in.b)) {
    const T* p = pa != nullptr ? pa : pb;
    with_scalar_function(in, [&](auto op) { each(out, [&](int64_t j) { return op(V::loadu(p + j)); }); });
  } else if (in.prim == Prim::kDiv) {
    const V eps(static_cast<T>(kDivEpsilon));
    each(out, [&](int64_t j) { return V::loadu(pa + j) / (V::loadu(pb + j) + eps); });
  } else if (in.prim == Prim::kMax) {
    each(out, [&](int64_t j) { return at::vec::maximum(V::loadu(pa + j), V::loadu(pb + j)); });
  } else if (in.prim == Prim::kMin) {
    each(out, [&](int64_t j) { return at::vec::minimum(V::loadu(pa + j), V::loadu(pb + j)); });
  } else {
    each(out, [&](int64_t j) { return V::loadu(pa + j).pow(V::loadu(pb + j)); });
  }
}

// One computing instruction over the block. Each case follows the torch op of Program::direction's same case.
template <typename T>
template <typename Sink>
inline void BlockRunner<T>::evaluate(const KernelInstr& in, const T* g, const Block<T>& blk, const Sink& out) const {
  if (in.select == KernelInstr::kSelectExact) {
    // A function of σ: chosen from its three values (PowerSign's e^(sign(g)·sign(m)), AddSign's 1 + ·).
    const int reg = static_cast<int>(&in - plan_.code.data());
    with_select(reg, blk, [&](auto sel) { each(out, sel); });
    return;
  }
  switch (in.prim) {
    case Prim::kG2: each(out, [&](int64_t j) { const V x = V::loadu(g + j); return x * x; }); break;
    case Prim::kG3: each(out, [&](int64_t j) { const V x = V::loadu(g + j); return x * x * x; }); break;
    case Prim::kM:
    case Prim::kV:
    case Prim::kY:
    case Prim::kVMax:
    case Prim::kS:
    case Prim::kMP: with_corrected(blk, in.a, out, [](int64_t, const V& x) { return x; }); break;
    case Prim::kAdam:
    case Prim::kAMSGrad:
    case Prim::kRMSProp:
    case Prim::kAdaGrad: evaluate_adam(in, g, blk, out); break;
    case Prim::kNeg:
    case Prim::kExp:
    case Prim::kLog:
    case Prim::kSqrt:
    case Prim::kSign:
    case Prim::kAbs:
    case Prim::kClip: {
      const T* pa = ptr_[in.a];
      with_function(in, [&](auto op) { each(out, [&](int64_t j) { return op(V::loadu(pa + j)); }); });
      break;
    }
    case Prim::kDrop: evaluate_drop(in, blk, out); break;
    case Prim::kAdd:
    case Prim::kSub:
    case Prim::kMul: evaluate_fetching(in, blk, out); break;
    case Prim::kDiv:
    case Prim::kPow:
    case Prim::kMax:
    case Prim::kMin: evaluate_div_pow(in, blk, out); break;
    // Values that live in memory or are scalars never reach here: the planner made them aliases or folded them.
    case Prim::kG:
    case Prim::kNoise:
    case Prim::kANoise:
    case Prim::kW:
    case Prim::kLD:
    case Prim::kCD:
    case Prim::kRD:
    case Prim::kConst:
    case Prim::kIdentity:
    case Prim::kKeep:
    case Prim::kT:
    case Prim::kTotal:
      NOS_CHECK(false, "instruction " << static_cast<int>(in.prim) << " should have been folded or aliased");
      break;
    case Prim::kNAdam:
    case Prim::kRAdam: evaluate_schedule(in, g, blk, out); break;
    // Known from an earlier stage (Plan::stages): ‖x‖ for every element, or x times the ratio.
    case Prim::kNorm: {
      const V c(static_cast<T>(in.value));
      each(out, [c](int64_t) { return c; });
      break;
    }
    case Prim::kTrust: {
      const V ratio(static_cast<T>(in.value));
      if (is_scalar(in.a)) {
        const V x = V(scalar_of(in.a)) * ratio;
        each(out, [x](int64_t) { return x; });
      } else {
        const T* pa = ptr_[in.a];
        each(out, [pa, ratio](int64_t j) { return V::loadu(pa + j) * ratio; });
      }
      break;
    }
      // Do not add a default clause: every primitive must be handled here (-Werror=switch names a new one).
  }
}

}  // namespace

}  // namespace CPU_CAPABILITY
}  // namespace nos::dsl::cpu
