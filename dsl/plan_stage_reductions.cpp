// CPU planner pass 7: stages for the reductions (see plan_stage_reductions.h).
#include "dsl/plan_stage_reductions.h"

#include <algorithm>

#include "dsl/program.h"

namespace nos::dsl::cpu {

namespace {

// The registers instruction k's value depends on (through an alias of an instruction, that instruction).
std::vector<int> depends_on(const Plan& plan, int k) {
  const KernelInstr& in = plan.code[k];
  if (in.scalar) return {};
  if (in.alias >= 0) {
    if (plan.alias_source[k] == kSourceInstr) return {in.alias};
    return {};
  }
  std::vector<int> r;
  if (!reads_registers(in.prim)) return r;
  for (int x : {in.a, in.b}) {
    if (holds_tensor(plan, x)) r.push_back(x);
  }
  return r;
}

// What stage `s` evaluates: walking back from its seeds (the reductions of level s, or the result in the last).
std::vector<char> stage_needs(const Plan& plan, int s) {
  const int n = static_cast<int>(plan.code.size());
  const bool last = s == plan.stages - 1;
  std::vector<bool> needed(n, false);
  if (last) needed[n - 1] = true;
  for (int k = 0; k < n; ++k) {
    if (!last && plan.code[k].reduction >= 0 && plan.code[k].level == s) needed[k] = true;
  }
  for (int k = n - 1; k >= 0; --k) {
    const KernelInstr& in = plan.code[k];
    if (!needed[k] || in.scalar) continue;
    if (in.alias >= 0) {
      if (plan.alias_source[k] == kSourceInstr) needed[in.alias] = true;
      continue;
    }
    if (in.reduction >= 0) {
      // Its own stage writes the operand; later, trust multiplies it by the ratio and norm reads nothing.
      if ((in.level == s || in.prim == Prim::kTrust) && holds_tensor(plan, in.a)) needed[in.a] = true;
      continue;
    }
    for (int x : register_reads(plan, k)) needed[x] = true;
  }
  std::vector<char> out(n, 0);
  for (int k = 0; k < n; ++k) out[k] = needed[k] && plan.code[k].evaluated() ? 1 : 0;
  return out;
}

}  // namespace

void stage_reductions(Plan& plan) {
  const int n = static_cast<int>(plan.code.size());
  // depth[k]: how many reductions are nested in instruction k's value (a reduction counts itself).
  std::vector<int> depth(n, 0);
  int levels = 0;
  for (int k = 0; k < n; ++k) {
    for (int x : depends_on(plan, k)) depth[k] = std::max(depth[k], depth[x]);
    KernelInstr& in = plan.code[k];
    if (!primitive(in.prim).reduction || !in.evaluated()) continue;
    in.level = depth[k];
    in.reduction = static_cast<int>(plan.reduction_data.size());
    plan.reduction_data.push_back(nullptr);  // fused_update points it at the operand's memory
    depth[k] += 1;
    levels = std::max(levels, depth[k]);
  }
  if (levels == 0) return;
  plan.stages = levels + 1;
  for (int s = 0; s < plan.stages; ++s) plan.evaluates.push_back(stage_needs(plan, s));
}

}  // namespace nos::dsl::cpu
