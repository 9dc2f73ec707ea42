// CPU planner pass 5: instructions no evaluated one reads are inlined (see plan_mark_inlined.h).
#include "dsl/plan_mark_inlined.h"

namespace nos::dsl::cpu {

void mark_inlined(Plan& plan) {
  const int n = static_cast<int>(plan.code.size());
  // Which instructions are evaluated: the result, and (backwards) whatever an evaluated one reads; an alias of an
  // instruction needs that instruction.
  std::vector<bool> needed(n, false);
  needed[n - 1] = true;
  for (int k = n - 1; k >= 0; --k) {
    const KernelInstr& in = plan.code[k];
    if (!needed[k] || in.scalar) continue;
    if (in.alias >= 0) {
      if (plan.alias_source[k] == kSourceInstr) needed[in.alias] = true;
      continue;
    }
    for (int x : register_reads(plan, k)) needed[x] = true;
  }
  for (int k = 0; k < n; ++k) {
    KernelInstr& in = plan.code[k];
    in.inlined = !in.scalar && in.alias < 0 && !needed[k];
  }
  for (int k = 0; k < n && plan.update_averages_at < 0; ++k) {
    if (plan.code[k].evaluated()) plan.update_averages_at = k;
  }
}

}  // namespace nos::dsl::cpu
