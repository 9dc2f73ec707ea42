// CPU planner pass 1: the program's instructions copied into the plan, those known before the pass folded to scalars.
#pragma once

#include "dsl/cpu_plan.h"
#include "dsl/program.h"

namespace nos::dsl::cpu {

// Constants, decays and whatever is computed from them alone have one value for every element of the step: the
// kernel must not compute them per element. Folding them here with fold_scalar (program.h), in double as the
// reference path keeps them until they meet a tensor, gives every element the reference's scalar to the bit. Fills
// plan.code (one KernelInstr per instruction, `scalar` and `value` set) and sizes plan.alias_source.
void fold_scalars(const Program& program, const StepContext& ctx, Plan& plan);

}  // namespace nos::dsl::cpu
