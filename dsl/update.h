// Running a compiled rule: one update of one parameter, dispatched to the fused CPU kernel, the generated CUDA
// kernel or the reference path (a chain of torch ops), and what each path can run.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "dsl/program.h"

namespace nos::dsl {

// One update of one parameter: w ← w − lr · direction(w, g + weight_decay·w, averages, ctx), with the averages
// updated in place (the two steps around the rule are defined once, in update_math.h). w, g and the averages may
// be whole parameters or slices of stacked ones.
struct UpdateArgs {
  double lr = 0;
  double weight_decay = 0;  // coupled L2, added to g before the rule sees it (as PyTorch's SGD and Adam do)
};

// Why `fused_update` cannot run these tensors, or "" when it can: it needs CPU tensors of one floating dtype
// (float32 or float64), of one shape, with dense storage. Strided views are staged through contiguous copies.
std::string fused_unsupported_reason(const at::Tensor& w, const at::Tensor& g, const std::vector<at::Tensor>& averages);

// The fused CPU path (cpu_update.cpp: planned by cpu_planner.h, run by cpu_kernel.h): reads w, g and each average
// once and writes w and each average once, in blocks that stay in cache, vectorised (AVX2 when the CPU has it, chosen
// at run time) and split over at::parallel_for. Computes what `reference_update` computes, to the last bit or within
// a few ulp (see docs/dsl.md, "Fused kernel"). Random primitives draw from ctx.generator exactly the tensors the
// reference draws, in the same order. A rule with reductions (norm, trust) takes a pass per level of them first
// (FusedShape), its operands reduced by ATen as the reference reduces them. Throws InternalError when
// fused_unsupported_reason is not empty.
void fused_update(const Program& program, const at::Tensor& w, const at::Tensor& g, std::vector<at::Tensor>& averages,
                  const StepContext& ctx, const UpdateArgs& args);

// Why w, g and the averages do not make one fused update's operands (dtype float32 or float64, one device, dtype
// and shape, strided), or "" when they do; the device itself is not checked.
std::string fused_operand_mismatch(const at::Tensor& w, const at::Tensor& g, const std::vector<at::Tensor>& averages);

// The fused CUDA path (cuda_launch.cpp), built against a CUDA LibTorch (dsl/CMakeLists.txt): the rule as one
// generated elementwise kernel (dsl/cuda_codegen.h) compiled with NVRTC at its first use per rule, dtype, weight
// decay (on or off) and device, then one launch per parameter and step on the current stream. Whether this build has
// it:
bool cuda_fused_built();
// Why it cannot run these tensors (not CUDA tensors, not float32/float64, a build without it, an NVRTC that failed
// once), or "" when it can.
std::string cuda_fused_unsupported_reason(const at::Tensor& w, const at::Tensor& g,
                                          const std::vector<at::Tensor>& averages);
// Runs the update and returns true; or returns false, changing nothing but the generator's state, when
// cuda_fused_unsupported_reason is not empty or the kernel cannot be compiled or launched (it warns once, with
// NVRTC's or the driver's message, and the reference path runs instead from then on).
bool cuda_fused_update(const Program& program, const at::Tensor& w, const at::Tensor& g,
                       std::vector<at::Tensor>& averages, const StepContext& ctx, const UpdateArgs& args);

// The reference path: the same update as a chain of torch ops (Program::direction), on any device.
void reference_update(const Program& program, const at::Tensor& w, const at::Tensor& g,
                      std::vector<at::Tensor>& averages, const StepContext& ctx, const UpdateArgs& args);

// The fused path where it applies (the CPU kernel, or the CUDA kernel where built and the rule has no reduction),
// else the reference path; `fused` false forces the reference path.
void update(const Program& program, const at::Tensor& w, const at::Tensor& g, std::vector<at::Tensor>& averages,
            const StepContext& ctx, const UpdateArgs& args, bool fused = true);

// How the fused kernel runs a rule: the passes it makes over each block (each evaluated instruction is one; the
// moving averages are updated inside the first; a result held in memory or a scalar adds one to apply it; weight
// decay adds one) and the block buffers it needs. PowerSign, AddSign, Adam and momentum take one pass. A rule with
// reductions (norm, trust) runs in stages, one per level of nesting and one to apply the update: each evaluates
// what it needs, ATen's reduction of each operand is a pass, the averages' update is one, weight decay one per stage.
struct FusedShape {
  int passes = 0;
  int buffers = 0;
  int stages = 1;
};
FusedShape fused_shape(const Program& program, bool weight_decay = false);

// The build of the fused kernel that runs: "avx512" (built with SLEEF, CPU with AVX-512 F/BW/VL/DQ), else "avx2"
// (CPU with AVX2 and FMA), else "default" (baseline x86-64).
std::string fused_capability();

// Process-wide choice, like ATen's ATEN_CPU_CAPABILITY: "auto" (the start-up value: the widest the CPU runs),
// "avx512", "avx2" or "default". An explicit build that this CPU or this build of nos cannot run is a UserError
// saying why (never a silent fall-back), as is any other name.
void set_fused_capability(const std::string& choice);

// For tests: the CPU is taken to run at most `widest` ("default", "avx2" or "avx512"; the latter restores the
// CPU's own answer), and the choice goes back to auto.
void limit_fused_capability_for_testing(const std::string& widest);

}  // namespace nos::dsl
