// Internal to dsl/: the CPU planner, a compiled rule made into the fused kernel's plan by a sequence of passes.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "dsl/cpu_plan.h"
#include "dsl/program.h"
#include "dsl/update.h"

namespace nos::dsl::cpu {

// The plan of one fused update of the dense operands w, g and averages (staging.h) at this step. It reads as its
// passes, each a free function in its own header saying why it exists:
//   fold_scalars → alias_values → find_selects → choose_fetches → mark_inlined → assign_slots → stage_reductions.
// Random tensors drawn for the step stay alive in `keep_alive` while the plan runs.
Plan make_plan(const Program& program, const at::Tensor& w, const at::Tensor& g, std::vector<at::Tensor>& averages,
               const StepContext& ctx, const UpdateArgs& args, std::vector<at::Tensor>& keep_alive);

}  // namespace nos::dsl::cpu
