// CPU planner pass 6: block buffers assigned by live range (see plan_assign_slots.h).
#include "dsl/plan_assign_slots.h"

#include <algorithm>
#include <limits>

namespace nos::dsl::cpu {

void assign_slots(Plan& plan) {
  const int n = static_cast<int>(plan.code.size());
  auto computes = [&](int k) { return plan.code[k].evaluated(); };
  // One buffer per evaluated instruction while its value is live (aliases of it included), reused after.
  std::vector<int> root(n), last_use(n, -1);
  for (int k = 0; k < n; ++k) {
    const KernelInstr& in = plan.code[k];
    root[k] = in.alias >= 0 && plan.alias_source[k] == kSourceInstr ? root[in.alias] : k;
  }
  for (int k = 0; k < n; ++k) {
    if (!computes(k)) continue;
    for (int x : register_reads(plan, k)) last_use[root[x]] = std::max(last_use[root[x]], k);
  }
  last_use[root[n - 1]] = std::numeric_limits<int>::max();
  std::vector<int> free_slots;
  for (int k = 0; k < n; ++k) {
    if (!computes(k)) continue;
    KernelInstr& in = plan.code[k];
    std::vector<int> roots;
    for (int x : register_reads(plan, k)) {
      if (std::find(roots.begin(), roots.end(), root[x]) == roots.end()) roots.push_back(root[x]);
    }
    for (int r : roots) {
      if (last_use[r] == k && plan.code[r].slot >= 0) free_slots.push_back(plan.code[r].slot);
    }
    if (k == n - 1) break;  // the result is applied to w as it is computed: no buffer
    if (free_slots.empty()) {
      in.slot = plan.slots++;
    } else {
      in.slot = free_slots.back();
      free_slots.pop_back();
    }
    if (last_use[k] < 0) free_slots.push_back(in.slot);  // computed and never read
  }
}

}  // namespace nos::dsl::cpu
