// Internal to dsl/: the fused CPU kernel's entry points, one per CPU capability, each running a plan (cpu_plan.h).
#pragma once

#include "dsl/cpu_plan.h"

namespace nos::dsl::cpu {

// One update over plan.numel elements, block by block, split over at::parallel_for. Compiled from cpu_kernel.cpp
// once per capability with that capability's flags (dsl/CMakeLists.txt); cpu_update.cpp picks one at run time.
namespace DEFAULT {
void run(const Plan& plan);
}
namespace AVX2 {
void run(const Plan& plan);
}
namespace AVX512 {
void run(const Plan& plan);
}

}  // namespace nos::dsl::cpu
