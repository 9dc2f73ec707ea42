// CPU planner pass 3: instructions whose value is a function of signs become selects among three precomputed values.
#pragma once

#include "dsl/cpu_plan.h"

namespace nos::dsl::cpu {

// Every element of sign(x) is −1, 0 or +1, so every elementwise function of it applied with scalars (exp, 1 + ·,
// ld · ·, log|·|, …) takes one of three values fixed for the step. Marking such instructions as selects
// (KernelInstr::select and its sources) lets the kernel compute the three values once per block runner, with the
// same vector code it uses per element (so the values are the reference's to the bit), and only choose among them
// by the sign σ of the source(s) per element: PowerSign's e^(sign(g)·sign(m)) and AddSign's 1 + sign(g)·sign(m)
// then cost one comparison per element instead of an exp. A product of two odd selects (σ = σ₁·σ₂) is a select
// too, whose zeros carry the other factor's sign: it becomes an exact select again only through a function that
// maps ±0 alike. Run after alias_values (an alias of a select becomes a select itself).
void find_selects(Plan& plan);

}  // namespace nos::dsl::cpu
