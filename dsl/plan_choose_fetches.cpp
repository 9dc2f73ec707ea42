// CPU planner pass 4: operand fetches of + − × (see plan_choose_fetches.h).
#include "dsl/plan_choose_fetches.h"

#include "dsl/program.h"

namespace nos::dsl::cpu {

namespace {

// How many evaluated instructions read each register as an operand.
std::vector<int> operand_uses(const Plan& plan) {
  std::vector<int> uses(plan.code.size(), 0);
  for (const KernelInstr& in : plan.code) {
    if (in.scalar || !reads_registers(in.prim)) continue;
    for (int x : {in.a, in.b}) {
      if (x >= 0) ++uses[x];
    }
  }
  return uses;
}

// The fetch of operand x by a + − ×, x read by it alone (uses 1) when `only_reader`.
KernelInstr::Fetch fetch_of(const Plan& plan, int x, bool only_reader) {
  using Fetch = KernelInstr::Fetch;
  Fetch f;
  f.source = x;
  if (!holds_tensor(plan, x) || plan.code[x].alias >= 0) return f;
  const KernelInstr& p = plan.code[x];
  if (p.select == KernelInstr::kSelectExact) {
    f.kind = p.sources == 1 ? Fetch::kSelect1 : Fetch::kSelect2;
    return f;
  }
  if (!only_reader || p.select != KernelInstr::kNoSelect) return f;
  if (p.prim == Prim::kNeg) {
    f.kind = Fetch::kNeg;
    f.source = p.a;
  } else if (is_average(p.prim)) {
    f.kind = Fetch::kScaledAverage;
    f.source = p.a;
  } else if (is_fetching(p) && holds_tensor(plan, p.a) != holds_tensor(plan, p.b)) {
    // x + s, x·s, s − x or x − s, its tensor side read plainly: recomputed in the consumer.
    const bool left = !holds_tensor(plan, p.a);
    const Fetch& inner = left ? p.fetch_b : p.fetch_a;
    if (inner.kind != Fetch::kPlain) return f;
    f.source = inner.source;
    f.k = plan.code[left ? p.a : p.b].value;
    if (p.prim == Prim::kAdd) f.kind = Fetch::kPlusScalar;
    if (p.prim == Prim::kMul) f.kind = Fetch::kTimesScalar;
    if (p.prim == Prim::kSub) f.kind = left ? Fetch::kScalarMinus : Fetch::kMinusScalar;
  }
  return f;
}

}  // namespace

void choose_fetches(Plan& plan) {
  const int n = static_cast<int>(plan.code.size());
  const std::vector<int> uses = operand_uses(plan);
  for (int k = 0; k < n; ++k) {
    KernelInstr& in = plan.code[k];
    if (!is_fetching(in)) continue;
    // The result is never recomputed inside another instruction: it is what the kernel applies.
    in.fetch_a = fetch_of(plan, in.a, uses[in.a] == 1 && in.a != n - 1);
    in.fetch_b = fetch_of(plan, in.b, uses[in.b] == 1 && in.b != n - 1);
  }
}

}  // namespace nos::dsl::cpu
