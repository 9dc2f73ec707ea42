// CPU planner pass 3: select-valued instructions found, in code order (see plan_find_selects.h).
#include "dsl/plan_find_selects.h"

#include <cmath>

#include "dsl/program.h"

namespace nos::dsl::cpu {

namespace {

// The one tensor operand of an instruction whose other operands are scalars (-1 when there are two, or none).
int tensor_operand(const Plan& plan, const KernelInstr& in) {
  if (!reads_registers(in.prim)) return -1;
  const bool ta = holds_tensor(plan, in.a), tb = holds_tensor(plan, in.b);
  if (ta && !tb) return in.a;
  if (tb && !ta) return in.b;
  return -1;
}

void copy_sources(const KernelInstr& from, KernelInstr& in) {
  in.sources = from.sources;
  for (int i = 0; i < 2; ++i) {
    in.source[i] = from.source[i];
    in.source_average[i] = from.source_average[i];
  }
}

// x·y of two tensors: an odd pair when both are odd selects of one source each (σ = σ₁·σ₂; values exact up to
// the sign of a zero).
void find_odd_pair(const Plan& plan, KernelInstr& in) {
  const KernelInstr& a = plan.code[in.a];
  const KernelInstr& b = plan.code[in.b];
  if (a.select != KernelInstr::kSelectExact || !a.odd || a.sources != 1) return;
  if (b.select != KernelInstr::kSelectExact || !b.odd || b.sources != 1) return;
  in.select = KernelInstr::kSelectOddPair;
  in.sources = 2;
  in.source[0] = a.source[0];
  in.source_average[0] = a.source_average[0];
  in.source[1] = b.source[0];
  in.source_average[1] = b.source_average[0];
}

// Whether `in` keeps an exact select's values of the form −a, 0, a (an odd function of σ).
bool odd_preserving(const KernelInstr& in, bool scalar_left) {
  return in.prim == Prim::kNeg || in.prim == Prim::kSign || in.prim == Prim::kClip || in.prim == Prim::kIdentity ||
         in.prim == Prim::kKeep || in.prim == Prim::kMul || (in.prim == Prim::kDiv && !scalar_left);
}

// Whether `in`, applied with scalar s to an odd pair (zeros +0 or −0 by element), maps both zeros alike.
bool resolves_signed_zeros(const KernelInstr& in, bool scalar_left, double s) {
  // ±0 + s = s, and +0 for s = +0; s − ±0 = s, and +0 for s = +0; ±0 − s = −s for s ≠ 0.
  if (in.prim == Prim::kAdd || (in.prim == Prim::kSub && scalar_left)) return s != 0 || !std::signbit(s);
  if (in.prim == Prim::kSub && !scalar_left) return s != 0;
  return in.prim == Prim::kExp || in.prim == Prim::kLog || in.prim == Prim::kSqrt || in.prim == Prim::kSign;
}

// Instruction `k` with one tensor operand t (and scalars): a select when t is one and `in` keeps it one, or when
// `in` is sign(t) (the root of a select).
void find_select(Plan& plan, int k, int t) {
  KernelInstr& in = plan.code[k];
  const KernelInstr& x = plan.code[t];
  const bool scalar_left = reads_registers(in.prim) && in.b == t && holds_tensor(plan, in.b);
  // The scalar operand as the kernel uses it (in the dtype): whether it is 0 and of which sign matters below.
  const double s0 = scalar_left ? plan.code[in.a].value
                                : (in.b >= 0 && !holds_tensor(plan, in.b) ? plan.code[in.b].value : 0);
  const double s = plan.is_double ? s0 : static_cast<double>(static_cast<float>(s0));
  if (x.select == KernelInstr::kNoSelect) {
    if (in.prim != Prim::kSign) return;
    // The root: sign(x), σ = sign(x). A moving average is read raw (sign(m̂) = sign(m): the correction is ≥ 1).
    in.select = KernelInstr::kSelectExact;
    in.odd = true;
    in.sources = 1;
    const bool average = is_average(x.prim);
    in.source[0] = average ? x.a : t;
    in.source_average[0] = average;
  } else if (x.select == KernelInstr::kSelectExact) {
    // Any elementwise function of a function of σ is one.
    in.select = KernelInstr::kSelectExact;
    copy_sources(x, in);
    in.odd = x.odd && odd_preserving(in, scalar_left);
  } else {
    // An odd pair's zeros are +0 or −0 by element: only functions that map both alike make a select of it.
    if (!resolves_signed_zeros(in, scalar_left, s)) return;
    in.select = KernelInstr::kSelectExact;
    in.odd = in.prim == Prim::kSign;
    copy_sources(x, in);
  }
  if (in.alias >= 0) {
    // identity or keep of a select: a select itself, its operand may never be evaluated.
    in.alias = -1;
    plan.alias_source[k] = -1;
  }
}

}  // namespace

void find_selects(Plan& plan) {
  const int n = static_cast<int>(plan.code.size());
  for (int k = 0; k < n; ++k) {
    KernelInstr& in = plan.code[k];
    // drop draws; a reduction (norm, trust) is no elementwise function of σ.
    if (in.scalar || in.prim == Prim::kDrop || primitive(in.prim).reduction) continue;
    if (in.prim == Prim::kMul && holds_tensor(plan, in.a) && holds_tensor(plan, in.b)) {
      find_odd_pair(plan, in);
      continue;
    }
    const int t = tensor_operand(plan, in);
    if (t >= 0) find_select(plan, k, t);
  }
}

}  // namespace nos::dsl::cpu
