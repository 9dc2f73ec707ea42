// CPU planner pass 5: which computing instructions the kernel evaluates into a buffer, and which pass updates the
// moving averages.
#pragma once

#include "dsl/cpu_plan.h"

namespace nos::dsl::cpu {

// After choose_fetches and find_selects, some computing instructions are read by no evaluated instruction (they
// are recomputed inside their reader, or their readers take a select from its sources): evaluating them would be
// a wasted pass over every block. Walking back from the result, this marks every instruction nothing evaluated
// reads as KernelInstr::inlined, and sets Plan::update_averages_at to the first evaluated instruction, whose pass
// also updates the moving averages, so they are read and written once.
void mark_inlined(Plan& plan);

}  // namespace nos::dsl::cpu
