// Internal to the fused CPU kernel: how BlockRunner reads an instruction's operands: a select's value chosen by σ, an
// operand through its fetch (an inlined neg, select, corrected average or scalar op), a corrected average.
#pragma once

#include "dsl/cpu_block_runner.h"

namespace nos::dsl::cpu {
namespace CPU_CAPABILITY {

namespace {

// A pointer to one of a select's sources in this block.
template <typename T>
inline const T* BlockRunner<T>::source_of(const KernelInstr& sel, int i, const Block<T>& blk) const {
  return sel.source_average[i] ? blk.averages[sel.source[i]] : ptr_[sel.source[i]];
}

// Calls f with a reader j → the select's value at j: a choice by σ between its three values.
template <typename T>
template <typename F>
inline void BlockRunner<T>::with_select(int reg, const Block<T>& blk, F f) const {
  const KernelInstr& sel = plan_.code[reg];
  const Triple& c = triples_[reg];
  const V zero(T(0)), cn = c[0], cz = c[1], cp = c[2];
  const T* x = source_of(sel, 0, blk);
  if (sel.sources == 1) {
    return f([=](int64_t j) {
      const V s = V::loadu(x + j);
      return V::blendv(V::blendv(cz, cp, s > zero), cn, s < zero);
    });
  }
  const T* y = source_of(sel, 1, blk);
  // σ = sign(x)·sign(y) from comparisons alone: +1 where both are positive or both negative, −1 where they
  // differ, 0 where either is 0 or NaN.
  return f([=](int64_t j) {
    const V a = V::loadu(x + j), b = V::loadu(y + j);
    const V a_pos = a > zero, a_neg = a < zero, b_pos = b > zero, b_neg = b < zero;
    const V same = (a_pos & b_pos) | (a_neg & b_neg), differ = (a_pos & b_neg) | (a_neg & b_pos);
    return V::blendv(V::blendv(cz, cp, same), cn, differ);
  });
}

// Calls f with a reader of the operand described by `spec`: j → the operand's vector at j. The kind is chosen
// once per block, outside the loop (each kind is its own instantiation of f).
template <typename T>
template <typename F>
inline void BlockRunner<T>::with_fetch(const KernelInstr::Fetch& spec, const Block<T>& blk, F f) const {
  using Fetch = KernelInstr::Fetch;
  switch (spec.kind) {
    case Fetch::kPlain: {
      const T* p = ptr_[spec.source];
      return f([p](int64_t j) { return V::loadu(p + j); });
    }
    case Fetch::kNeg: {
      const T* p = ptr_[spec.source];
      return f([p](int64_t j) { return V::loadu(p + j).neg(); });
    }
    case Fetch::kScaledAverage: {
      // m̂ (or v̂, γ̂): the raw average times 1/(1 − β^t), when there is a correction.
      const T* p = blk.averages[spec.source];
      if (!corrected_[spec.source]) return f([p](int64_t j) { return V::loadu(p + j); });
      const V c = correction_[spec.source];
      return f([p, c](int64_t j) { return V::loadu(p + j) * c; });
    }
    case Fetch::kSelect1:
    case Fetch::kSelect2: return with_select(spec.source, blk, f);
    case Fetch::kPlusScalar:
    case Fetch::kTimesScalar:
    case Fetch::kScalarMinus:
    case Fetch::kMinusScalar: {
      const T* p = ptr_[spec.source];
      const V c(static_cast<T>(spec.k));
      if (spec.kind == Fetch::kPlusScalar) return f([p, c](int64_t j) { return V::loadu(p + j) + c; });
      if (spec.kind == Fetch::kTimesScalar) return f([p, c](int64_t j) { return V::loadu(p + j) * c; });
      if (spec.kind == Fetch::kScalarMinus) return f([p, c](int64_t j) { return c - V::loadu(p + j); });
      return f([p, c](int64_t j) { return V::loadu(p + j) - c; });
    }
    default: NOS_CHECK(false, "unknown operand fetch " << spec.kind);
  }
}

// A binary + − × with both operands tensors, each read through its fetch.
template <typename T>
template <typename Sink, typename Op>
inline void BlockRunner<T>::binary_fetched(const KernelInstr& in, const Block<T>& blk, const Sink& out, Op op) const {
  with_fetch(in.fetch_a, blk, [&](auto fa) {
    with_fetch(in.fetch_b, blk, [&](auto fb) { each(out, [&](int64_t j) { return op(fa(j), fb(j)); }); });
  });
}

// Callers hoist the branch: `f` gets the corrected value of every vector of the block.
template <typename T>
template <typename Sink, typename F>
inline void BlockRunner<T>::with_corrected(const Block<T>& blk, int average, const Sink& out, F f) const {
  const T* x = blk.averages[average];
  if (corrected_[average]) {
    const V c = correction_[average];
    each(out, [&](int64_t j) { return f(j, V::loadu(x + j) * c); });
  } else {
    each(out, [&](int64_t j) { return f(j, V::loadu(x + j)); });
  }
}

}  // namespace

}  // namespace CPU_CAPABILITY
}  // namespace nos::dsl::cpu
