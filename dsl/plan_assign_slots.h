// CPU planner pass 6: the block buffer each evaluated instruction writes, reused once its value is dead.
#pragma once

#include "dsl/cpu_plan.h"

namespace nos::dsl::cpu {

// Every evaluated instruction but the result writes its block's values to a buffer of kBlock elements that its
// readers read. Few buffers keep a block's live values in L1/L2, so each buffer is reused as soon as the last
// reader of its value (aliases of it included) has run: a linear scan over the code, as register allocators do
// for straight-line code. Sets KernelInstr::slot and Plan::slots. The result needs no buffer: the kernel applies
// it to w as it computes it. Run last.
void assign_slots(Plan& plan);

}  // namespace nos::dsl::cpu
