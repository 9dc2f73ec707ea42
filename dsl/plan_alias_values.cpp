// CPU planner pass 2: aliases of values in memory, random tensors drawn (see plan_alias_values.h).
#include "dsl/plan_alias_values.h"

#include "dsl/staging.h"

namespace nos::dsl::cpu {

void alias_values(const Program& program, const at::Tensor& w, const at::Tensor& g, const StepContext& ctx,
                  Plan& plan, std::vector<at::Tensor>& keep_alive) {
  const std::vector<Program::Instr>& code = program.code();
  for (size_t k = 0; k < code.size(); ++k) {
    const Program::Instr& src = code[k];
    KernelInstr& in = plan.code[k];
    if (in.scalar) continue;
    auto alias = [&](int source, int index) {
      in.alias = index;
      plan.alias_source[k] = source;
    };
    // Random tensors: the same draws, from the same generator, in the same order as Program::direction.
    auto draw = [&]() {
      keep_alive.push_back(laid_out_like(draw_random(src, g, ctx), w));
      plan.random_data.push_back(keep_alive.back().data_ptr());
      return static_cast<int>(plan.random_data.size()) - 1;
    };
    switch (src.prim) {
      case Prim::kG: alias(kSourceGrad, 0); break;
      case Prim::kW: alias(kSourceWeight, 0); break;
      case Prim::kM:
      case Prim::kV:
      case Prim::kY:
      case Prim::kVMax:
      case Prim::kS:
      case Prim::kMP:
        if (!plan.averages[src.a].correction.applies()) alias(kSourceAverage, src.a);
        break;
      case Prim::kNoise:
      case Prim::kANoise: alias(kSourceRandom, draw()); break;
      case Prim::kDrop: in.random = draw(); break;
      case Prim::kIdentity:
      case Prim::kKeep: {
        // The operand's value, wherever it lives.
        const KernelInstr& a = plan.code[src.a];
        if (a.alias >= 0) {
          alias(plan.alias_source[src.a], a.alias);
        } else {
          alias(kSourceInstr, src.a);
        }
        break;
      }
      // Everything else computes its value (scalars were folded before this pass).
      case Prim::kG2:
      case Prim::kG3:
      case Prim::kAdam:
      case Prim::kRMSProp:
      case Prim::kLD:
      case Prim::kCD:
      case Prim::kRD:
      case Prim::kConst:
      case Prim::kNeg:
      case Prim::kExp:
      case Prim::kLog:
      case Prim::kSqrt:
      case Prim::kSign:
      case Prim::kClip:
      case Prim::kAdd:
      case Prim::kSub:
      case Prim::kMul:
      case Prim::kDiv:
      case Prim::kPow:
      case Prim::kAbs:
      case Prim::kMax:
      case Prim::kMin:
      case Prim::kT:
      case Prim::kTotal:
      case Prim::kAMSGrad:
      case Prim::kAdaGrad:
      case Prim::kNAdam:
      case Prim::kRAdam:
      case Prim::kNorm:
      case Prim::kTrust:
        break;
        // Do not add a default clause: every primitive must be handled here (-Werror=switch names a new one).
    }
  }
}

}  // namespace nos::dsl::cpu
