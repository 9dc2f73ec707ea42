// The dispatch of one update to the fused CPU path, the fused CUDA path or the reference path, and the reference.
#include "dsl/update.h"

#include "dsl/error.h"
#include "dsl/update_math.h"

namespace nos::dsl {

std::string fused_operand_mismatch(const at::Tensor& w, const at::Tensor& g, const std::vector<at::Tensor>& averages) {
  if (w.layout() != at::kStrided || g.layout() != at::kStrided) return "sparse tensors";
  if (w.scalar_type() != at::kFloat && w.scalar_type() != at::kDouble) {
    return std::string("dtype ") + c10::toString(w.scalar_type()) + " (the fused kernels run float32 and float64)";
  }
  auto same = [&](const at::Tensor& t) {
    return t.device() == w.device() && t.scalar_type() == w.scalar_type() && t.sizes() == w.sizes() &&
           t.layout() == at::kStrided;
  };
  if (!same(g)) return "the gradient's dtype, device or shape differs from the parameter's";
  for (const at::Tensor& a : averages) {
    if (!same(a)) return "a moving average's dtype, device or shape differs from the parameter's";
  }
  return "";
}

#ifndef NOS_WITH_NVRTC
// This build's LibTorch has no CUDA (or its headers lack ATen's NVRTC stub): dsl/cuda_launch.cpp is not built.
bool cuda_fused_built() { return false; }
std::string cuda_fused_unsupported_reason(const at::Tensor&, const at::Tensor&, const std::vector<at::Tensor>&) {
  return "this build has no CUDA fused kernel (LibTorch without CUDA, or without ATen's NVRTC stub)";
}
bool cuda_fused_update(const Program&, const at::Tensor&, const at::Tensor&, std::vector<at::Tensor>&,
                       const StepContext&, const UpdateArgs&) {
  return false;
}
#endif

void reference_update(const Program& program, const at::Tensor& w, const at::Tensor& g,
                      std::vector<at::Tensor>& averages, const StepContext& ctx, const UpdateArgs& args) {
  // ATen's add with alpha, y.add(x, a) = x·a + y, is the fused multiply-add of update_math.h's two steps.
  auto add = [](const at::Tensor& x, double a, const at::Tensor& y) { return y.add(x, a); };
  auto add_in_place = [](const at::Tensor& x, double a, const at::Tensor& y) { return y.add_(x, a); };
  const at::Tensor grad = args.weight_decay != 0 ? decayed_gradient(g, w, args.weight_decay, add) : g;
  const at::Tensor direction = program.direction(w, grad, averages, ctx);
  applied_update(w, direction, -args.lr, add_in_place);
}

void update(const Program& program, const at::Tensor& w, const at::Tensor& g, std::vector<at::Tensor>& averages,
            const StepContext& ctx, const UpdateArgs& args, bool fused) {
  // A rule with a reduction (norm, trust) runs the reference path on CUDA (cuda_fused_update declines it).
  if (fused && fused_unsupported_reason(w, g, averages).empty()) {
    fused_update(program, w, g, averages, ctx, args);
    return;
  }
  if (fused && w.is_cuda() && cuda_fused_update(program, w, g, averages, ctx, args)) return;
  reference_update(program, w, g, averages, ctx, args);
}

}  // namespace nos::dsl
