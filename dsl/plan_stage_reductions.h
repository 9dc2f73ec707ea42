// CPU planner pass 7: the stages a rule with reductions (norm, trust) takes, and what each evaluates.
#pragma once

#include "dsl/cpu_plan.h"

namespace nos::dsl::cpu {

// A reduction needs its operand over the whole tensor before any element of its value is known, so a block-by-block
// pass cannot compute it. Each evaluated reduction gets a level, the number of reductions nested inside its operand;
// the kernel makes one pass per level (stage s writes the operands of the reductions of level s to memory, which
// fused_update reduces with ATen) and a last one that applies the update with every reduction's value known.
// Sets Plan::stages, Plan::evaluates (what each stage evaluates: walking back from its seeds, where a known norm
// reads nothing and a known trust reads its operand) and KernelInstr::reduction and level. A rule without an
// evaluated reduction keeps one stage and an empty Plan::evaluates.
void stage_reductions(Plan& plan);

}  // namespace nos::dsl::cpu
