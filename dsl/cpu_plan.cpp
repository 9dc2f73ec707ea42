// Questions the CPU planner's passes ask of a plan (cpu_plan.h).
#include "dsl/cpu_plan.h"

#include "dsl/program.h"

namespace nos::dsl::cpu {

bool holds_tensor(const Plan& plan, int r) { return r >= 0 && !plan.code[r].scalar; }

bool is_fetching(const KernelInstr& in) {
  return !in.scalar && in.alias < 0 && in.select != KernelInstr::kSelectExact &&
         (in.prim == Prim::kAdd || in.prim == Prim::kSub || in.prim == Prim::kMul);
}

std::vector<int> register_reads(const Plan& plan, int k) {
  std::vector<int> r;
  auto select_reads = [&](const KernelInstr& sel) {
    for (int i = 0; i < sel.sources; ++i) {
      if (!sel.source_average[i]) r.push_back(sel.source[i]);
    }
  };
  const KernelInstr& in = plan.code[k];
  if (in.select == KernelInstr::kSelectExact) {
    select_reads(in);
  } else if (is_fetching(in)) {
    for (const KernelInstr::Fetch* f : {&in.fetch_a, &in.fetch_b}) {
      if (f->kind == KernelInstr::Fetch::kScaledAverage) continue;
      if (f->kind == KernelInstr::Fetch::kSelect1 || f->kind == KernelInstr::Fetch::kSelect2) {
        select_reads(plan.code[f->source]);
      } else if (holds_tensor(plan, f->source)) {
        r.push_back(f->source);
      }
    }
  } else if (reads_registers(in.prim)) {
    for (int x : {in.a, in.b}) {
      if (holds_tensor(plan, x)) r.push_back(x);
    }
  }
  return r;
}

}  // namespace nos::dsl::cpu
