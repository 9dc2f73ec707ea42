// The fused CPU path's entry: which build of the kernel runs, and one update staged, planned and run.
#include <atomic>
#include <string>

#include "dsl/cpu_kernel.h"
#include "dsl/cpu_planner.h"
#include "dsl/error.h"
#include "dsl/staging.h"
#include "dsl/update.h"

namespace nos::dsl {

namespace {

// The capability set_fused_capability asked for: 0 auto, 1 default, 2 avx2, 3 avx512.
std::atomic<int> requested{0};
// The widest build the CPU is taken to run (limit_fused_capability_for_testing): 1 default, 2 avx2, 3 avx512.
std::atomic<int> cpu_limit{3};

bool cpu_has_avx2() {
  return cpu_limit.load() >= 2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
bool cpu_has_avx512() {
  return cpu_limit.load() >= 3 && cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

// Why the build `index` (2 avx2, 3 avx512) cannot run here, or "".
std::string unavailable_reason(int index) {
  if (index == 3) {
#ifndef NOS_FUSED_AVX512
    return "this build of nos has no AVX-512 kernel (its compiler lacked -mavx512f or SLEEF)";
#endif
    if (!cpu_has_avx512()) return "this CPU lacks AVX-512 (it needs F, BW, VL and DQ)";
  }
  if (index == 2) {
#ifndef NOS_FUSED_AVX2
    return "this build of nos has no AVX2 kernel";
#endif
    if (!cpu_has_avx2()) return "this CPU lacks AVX2 and FMA";
  }
  return "";
}

// "avx512", "avx2" or "default": what runs now.
const char* active_capability() {
  const int r = requested.load();
#ifdef NOS_FUSED_AVX512
  // auto prefers AVX-512: measured faster (nos bench step), within an ulp of ATen's AVX2 reference kernels.
  if ((r == 0 || r == 3) && cpu_has_avx512()) return "avx512";
#endif
#ifdef NOS_FUSED_AVX2
  if ((r == 0 || r == 2 || r == 3) && cpu_has_avx2()) return "avx2";
#endif
  return "default";
}

// A rule with reductions (cpu::Plan::stages): each stage but the last writes the operands of its reductions to
// memory laid out as `dense_w`, which ATen reduces exactly as Program::direction does (x.norm(); trust's
// where(‖w‖ > 0 ∧ ‖x‖ > 0, ‖w‖/‖x‖, 1) with ‖w‖ of the parameter `w` before the update), so the values agree to the
// bit with the reference's for the same operand; the last applies the update.
void run_in_stages(cpu::Plan& plan, const at::Tensor& w, const at::Tensor& dense_w, void (*run)(const cpu::Plan&)) {
  std::vector<at::Tensor> operands;
  for (void*& data : plan.reduction_data) {
    operands.push_back(at::empty_like(dense_w));
    data = operands.back().data_ptr();
  }
  at::Tensor w_norm;
  for (const cpu::KernelInstr& in : plan.code) {
    if (in.reduction >= 0 && in.prim == Prim::kTrust && !w_norm.defined()) w_norm = w.norm();
  }
  for (int s = 0; s < plan.stages; ++s) {
    plan.stage = s;
    run(plan);
    for (cpu::KernelInstr& in : plan.code) {
      if (in.reduction < 0 || in.level != s) continue;
      const at::Tensor x_norm = operands[static_cast<size_t>(in.reduction)].norm();
      if (in.prim == Prim::kNorm) {
        in.value = x_norm.item<double>();
      } else {
        in.value = at::where(w_norm.gt(0).logical_and(x_norm.gt(0)), w_norm / x_norm, at::ones_like(w_norm))
                       .item<double>();
      }
    }
  }
}

}  // namespace

std::string fused_capability() { return active_capability(); }

void set_fused_capability(const std::string& choice) {
  const char* names[] = {"auto", "default", "avx2", "avx512"};
  for (int i = 0; i < 4; ++i) {
    if (choice == names[i]) {
      const std::string why = unavailable_reason(i);
      if (!why.empty()) {
        throw UserError("fused kernel '" + choice + "' cannot run: " + why + "; choose " + fused_capability() +
                        " (what auto runs here) or default");
      }
      requested.store(i);
      return;
    }
  }
  throw UserError("fused kernel capability: expected auto, default, avx2 or avx512, got '" + choice + "'");
}

void limit_fused_capability_for_testing(const std::string& widest) {
  const char* names[] = {"", "default", "avx2", "avx512"};
  for (int i = 1; i < 4; ++i) {
    if (widest == names[i]) {
      cpu_limit.store(i);
      requested.store(0);
      return;
    }
  }
  NOS_CHECK(false, "limit_fused_capability_for_testing: expected default, avx2 or avx512, got '" << widest << "'");
}

std::string fused_unsupported_reason(const at::Tensor& w, const at::Tensor& g,
                                     const std::vector<at::Tensor>& averages) {
  if (!w.device().is_cpu()) return "the parameter is on " + w.device().str() + " (the fused kernel runs on the CPU)";
  return fused_operand_mismatch(w, g, averages);
}

void fused_update(const Program& program, const at::Tensor& w, const at::Tensor& g, std::vector<at::Tensor>& averages,
                  const StepContext& ctx, const UpdateArgs& args) {
  const std::string reason = fused_unsupported_reason(w, g, averages);
  NOS_CHECK(reason.empty(), "fused update of rule '" << program.canonical_text() << "' on " << reason);
  program.check_step(w, g, averages, ctx);
  if (w.numel() == 0) return;

  // The kernel walks raw memory linearly, so every tensor must be dense and laid out alike (contiguous, or all
  // channels-last, ...). Otherwise it runs on contiguous copies that are copied back.
  DenseOperands dense = dense_operands(w, g, averages);
  std::vector<at::Tensor> keep_alive;
  cpu::Plan plan = cpu::make_plan(program, dense.w, dense.g, dense.averages, ctx, args, keep_alive);
  // The build of the kernel for this CPU (or the one set_fused_capability asked for).
  void (*run)(const cpu::Plan&) = cpu::DEFAULT::run;
  const std::string capability = active_capability();
#ifdef NOS_FUSED_AVX512
  if (capability == "avx512") run = cpu::AVX512::run;
#endif
#ifdef NOS_FUSED_AVX2
  if (capability == "avx2") run = cpu::AVX2::run;
#endif
  if (plan.stages == 1) {
    run(plan);
  } else {
    run_in_stages(plan, w, dense.w, run);
  }

  write_back(dense, w, averages);
}

FusedShape fused_shape(const Program& program, bool weight_decay) {
  // A plan for one float element (the shape does not depend on the size); random operands draw from a generator
  // of their own, and decays see a step inside their schedule.
  at::Tensor w = at::zeros({1}), g = at::ones({1});
  std::vector<at::Tensor> averages = program.zero_averages(w);
  at::Generator gen = at::globalContext().defaultGenerator(at::kCPU).clone();
  const StepContext ctx{0, /*total_steps=*/2, /*bias_correction=*/true, &gen};
  std::vector<at::Tensor> keep_alive;
  const cpu::Plan plan =
      cpu::make_plan(program, w, g, averages, ctx, UpdateArgs{1.0, weight_decay ? 0.1 : 0.0}, keep_alive);
  FusedShape shape;
  shape.buffers = plan.slots;
  shape.stages = plan.stages;
  if (plan.stages == 1) {
    for (const cpu::KernelInstr& in : plan.code) {
      if (in.evaluated()) ++shape.passes;
    }
  } else {
    // Each stage's evaluations (a reduction's own stage copies its operand out), ATen's pass over each operand, and
    // the averages' update of the first stage.
    for (const std::vector<char>& stage : plan.evaluates) {
      for (char e : stage) shape.passes += e;
    }
    shape.passes += static_cast<int>(plan.reduction_data.size());
    if (!plan.averages.empty()) ++shape.passes;
  }
  const cpu::KernelInstr& last = plan.code.back();
  if (last.scalar || last.alias >= 0) ++shape.passes;
  if (weight_decay) shape.passes += plan.stages;
  return shape;
}

}  // namespace nos::dsl
