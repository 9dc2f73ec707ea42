// The CPU planner: the memory a plan runs on, then its passes in order (see cpu_planner.h).
#include "dsl/cpu_planner.h"

#include "dsl/plan_alias_values.h"
#include "dsl/plan_assign_slots.h"
#include "dsl/plan_choose_fetches.h"
#include "dsl/plan_find_selects.h"
#include "dsl/plan_fold_scalars.h"
#include "dsl/plan_mark_inlined.h"
#include "dsl/plan_stage_reductions.h"

namespace nos::dsl::cpu {

namespace {

// What the plan runs on: the update's scalars, the operands' memory and each average's correction at this step.
Plan plan_memory(const Program& program, const at::Tensor& w, const at::Tensor& g,
                 std::vector<at::Tensor>& averages, const StepContext& ctx, const UpdateArgs& args) {
  Plan plan;
  plan.lr = args.lr;
  plan.weight_decay = args.weight_decay;
  plan.is_double = w.scalar_type() == at::kDouble;
  plan.numel = w.numel();
  plan.w = w.data_ptr();
  plan.g = g.data_ptr();
  const std::vector<BiasCorrection> corrections = bias_corrections(program, ctx);
  for (size_t i = 0; i < averages.size(); ++i) {
    const Average& a = program.averages()[i];
    plan.averages.push_back({a.moment, a.beta, partner_average(program.averages(), i), corrections[i]});
    plan.average_data.push_back(averages[i].data_ptr());
  }
  return plan;
}

}  // namespace

Plan make_plan(const Program& program, const at::Tensor& w, const at::Tensor& g, std::vector<at::Tensor>& averages,
               const StepContext& ctx, const UpdateArgs& args, std::vector<at::Tensor>& keep_alive) {
  Plan plan = plan_memory(program, w, g, averages, ctx, args);
  fold_scalars(program, ctx, plan);
  // nadam's and radam's per-step factors, computed once as every path computes them.
  for (size_t k = 0; k < plan.code.size(); ++k) {
    if (has_step_factors(program.code()[k].prim)) plan.code[k].factors = step_factors(program.code()[k], ctx);
  }
  alias_values(program, w, g, ctx, plan, keep_alive);
  find_selects(plan);
  choose_fetches(plan);
  mark_inlined(plan);
  assign_slots(plan);
  stage_reductions(plan);
  return plan;
}

}  // namespace nos::dsl::cpu
