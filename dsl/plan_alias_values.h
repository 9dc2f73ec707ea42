// CPU planner pass 2: values that already live in memory become aliases of it; random tensors are drawn.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "dsl/cpu_plan.h"
#include "dsl/program.h"

namespace nos::dsl::cpu {

// g, w, an average without bias correction, a noise tensor, id(x) and keep(x, y) compute nothing: the kernel reads
// them where they are (KernelInstr::alias, Plan::alias_source) instead of copying them through a block buffer.
// The random tensors (noise, anoise, drop's mask) are drawn here with draw_random, in code order, so the fused
// path draws from a seed what the reference path draws; they are laid out like w and kept alive in `keep_alive`
// while the plan runs. w and g are the dense operands (staging.h).
void alias_values(const Program& program, const at::Tensor& w, const at::Tensor& g, const StepContext& ctx,
                  Plan& plan, std::vector<at::Tensor>& keep_alive);

}  // namespace nos::dsl::cpu
