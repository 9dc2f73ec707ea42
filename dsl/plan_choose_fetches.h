// CPU planner pass 4: how each + − × reads its operands, directly or by recomputing a cheap operand as it reads it.
#pragma once

#include "dsl/cpu_plan.h"

namespace nos::dsl::cpu {

// A pass over a block costs a read and a write of a buffer per element; for a cheap instruction read by one
// + − × alone (−x, a bias-corrected average, x + s, x·s, s − x, x − s), recomputing it inside its reader costs
// less, and a select is read from its sources. This sets each + − ×'s fetch_a and fetch_b
// (KernelInstr::Fetch); mark_inlined then leaves out the instructions no evaluated one reads any more. Momentum's
// βm + g and Adam's m̂/(√v̂ + ε) paths come out as one pass this way. Run after find_selects.
void choose_fetches(Plan& plan);

}  // namespace nos::dsl::cpu
