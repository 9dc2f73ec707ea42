// CPU planner pass 1: instructions copied into the plan, scalars folded (see plan_fold_scalars.h).
#include "dsl/plan_fold_scalars.h"

namespace nos::dsl::cpu {

void fold_scalars(const Program& program, const StepContext& ctx, Plan& plan) {
  const std::vector<Program::Instr>& code = program.code();
  const std::vector<bool> scalar = scalar_instructions(program);
  const std::vector<double> values = scalar_values(program, scalar, ctx);
  plan.code.resize(code.size());
  plan.alias_source.assign(code.size(), -1);
  for (size_t k = 0; k < code.size(); ++k) {
    KernelInstr& in = plan.code[k];
    in.prim = code[k].prim;
    in.param = code[k].param;
    in.a = code[k].a;
    in.b = code[k].b;
    if (scalar[k]) {
      in.scalar = true;
      in.value = values[k];
    }
  }
}

}  // namespace nos::dsl::cpu
