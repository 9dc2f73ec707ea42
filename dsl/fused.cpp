// The fused path's planner (scalars folded, random tensors drawn, aliases and block buffers assigned) and dispatch.
#include "dsl/fused.h"

#include <atomic>
#include <cmath>
#include <limits>

#include "dsl/error.h"
#include "dsl/fused_kernel.h"

namespace nos::dsl {

namespace {

double sign_of(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }

// The value of a scalar instruction, computed in double exactly as Program::direction computes it.
double fold(const Program::Instr& in, const fused::KernelInstr* a, const fused::KernelInstr* b, const StepContext& ctx) {
  switch (in.prim) {
    case Prim::kLD: return linear_decay(ctx.t, ctx.total_steps);
    case Prim::kCD: return cosine_decay(ctx.t, ctx.total_steps, in.param);
    case Prim::kRD: return restart_decay(ctx.t, ctx.total_steps, in.param);
    case Prim::kConst: return in.param;
    case Prim::kIdentity: return a->value;
    case Prim::kNeg: return -a->value;
    case Prim::kExp: return std::exp(a->value);
    case Prim::kLog: return std::log(std::fabs(a->value));
    case Prim::kSqrt: return std::sqrt(std::fabs(a->value));
    case Prim::kSign: return sign_of(a->value);
    case Prim::kClip: return std::clamp(a->value, -in.param, in.param);
    case Prim::kAdd: return a->value + b->value;
    case Prim::kSub: return a->value - b->value;
    case Prim::kMul: return a->value * b->value;
    case Prim::kDiv: return a->value / (b->value + kDivEpsilon);
    case Prim::kPow: return std::pow(a->value, b->value);
    case Prim::kKeep: return a->value;
    case Prim::kG:
    case Prim::kG2:
    case Prim::kG3:
    case Prim::kM:
    case Prim::kV:
    case Prim::kY:
    case Prim::kNoise:
    case Prim::kANoise:
    case Prim::kW:
    case Prim::kAdam:
    case Prim::kRMSProp:
    case Prim::kDrop:
      break;
  }
  NOS_CHECK(false, "instruction " << static_cast<int>(in.prim) << " is not a scalar");
  return 0;
}

// Whether an instruction's value is known before the pass: decays, constants, and functions of those alone
// (drop always makes a tensor, as in the reference path).
bool scalar_prim(Prim p, const fused::KernelInstr* a, const fused::KernelInstr* b) {
  switch (primitive(p).role) {
    case Role::kOperand: return p == Prim::kLD || p == Prim::kCD || p == Prim::kRD || p == Prim::kConst;
    case Role::kUnary: return p != Prim::kDrop && a->scalar;
    case Role::kBinary: return p == Prim::kKeep ? a->scalar : a->scalar && b->scalar;
  }
  return false;
}

bool uses_registers(Prim p) { return primitive(p).role != Role::kOperand; }

// Makes `t` walk memory in the same order as `like` (same logical values).
at::Tensor laid_out_like(const at::Tensor& t, const at::Tensor& like) {
  if (t.strides() == like.strides()) return t;
  return at::empty_like(like).copy_(t);
}

fused::Plan make_plan(const Program& program, const at::Tensor& w, const at::Tensor& g,
                      std::vector<at::Tensor>& averages, const StepContext& ctx, const UpdateArgs& args,
                      std::vector<at::Tensor>& keep_alive) {
  using fused::KernelInstr;
  const std::vector<Program::Instr>& code = program.code();
  fused::Plan plan;
  plan.lr = args.lr;
  plan.weight_decay = args.weight_decay;
  plan.is_double = w.scalar_type() == at::kDouble;
  plan.numel = w.numel();
  plan.w = w.data_ptr();
  plan.g = g.data_ptr();
  const double step = static_cast<double>(ctx.t + 1);
  for (size_t i = 0; i < averages.size(); ++i) {
    const Average& a = program.averages()[i];
    plan.averages.push_back({a.moment, a.beta, ctx.bias_correction ? 1.0 - std::pow(a.beta, step) : 1.0});
    plan.average_data.push_back(averages[i].data_ptr());
  }

  plan.code.resize(code.size());
  plan.alias_source.assign(code.size(), -1);
  for (size_t k = 0; k < code.size(); ++k) {
    const Program::Instr& src = code[k];
    KernelInstr& in = plan.code[k];
    in.prim = src.prim;
    in.param = src.param;
    in.a = src.a;
    in.b = src.b;
    const bool regs = uses_registers(src.prim);
    const KernelInstr* a = regs && src.a >= 0 ? &plan.code[src.a] : nullptr;
    const KernelInstr* b = regs && src.b >= 0 ? &plan.code[src.b] : nullptr;
    if (scalar_prim(src.prim, a, b)) {
      in.scalar = true;
      in.value = fold(src, a, b, ctx);
      continue;
    }
    auto alias = [&](int source, int index) {
      in.alias = index;
      plan.alias_source[k] = source;
    };
    // Random tensors: the same draws, from the same generator, in the same order as Program::direction.
    auto draw = [&](at::Tensor t) {
      keep_alive.push_back(laid_out_like(t, w));
      plan.random_data.push_back(keep_alive.back().data_ptr());
      return static_cast<int>(plan.random_data.size()) - 1;
    };
    switch (src.prim) {
      case Prim::kG: alias(fused::kSourceGrad, 0); break;
      case Prim::kW: alias(fused::kSourceWeight, 0); break;
      case Prim::kM:
      case Prim::kV:
      case Prim::kY:
        if (plan.averages[src.a].correction == 1.0) alias(fused::kSourceAverage, src.a);
        break;
      case Prim::kNoise:
        alias(fused::kSourceRandom,
              draw(at::randn(g.sizes(), *ctx.generator, g.options()).mul_(std::sqrt(kNoiseVariance))));
        break;
      case Prim::kANoise: {
        const double variance = std::pow(1.0 + static_cast<double>(ctx.t), -kANoiseExponent);
        alias(fused::kSourceRandom, draw(at::randn(g.sizes(), *ctx.generator, g.options()).mul_(std::sqrt(variance))));
        break;
      }
      case Prim::kDrop:
        in.random = draw(at::empty_like(g).bernoulli_(1.0 - src.param, *ctx.generator));
        break;
      case Prim::kIdentity:
      case Prim::kKeep:
        // The operand's value, wherever it lives.
        if (a->alias >= 0) {
          alias(plan.alias_source[src.a], a->alias);
        } else {
          alias(fused::kSourceInstr, src.a);
        }
        break;
      default: break;
    }
  }

  // Block buffers: one per computing instruction while its value is live (aliases of it included), reused after.
  const int n = static_cast<int>(code.size());
  std::vector<int> root(n), last_use(n, -1);
  for (int k = 0; k < n; ++k) {
    const KernelInstr& in = plan.code[k];
    root[k] = in.alias >= 0 && plan.alias_source[k] == fused::kSourceInstr ? root[in.alias] : k;
  }
  auto computes = [&](int k) { return !plan.code[k].scalar && plan.code[k].alias < 0; };
  for (int k = 0; k < n; ++k) {
    if (!computes(k) || !uses_registers(plan.code[k].prim)) continue;
    for (int x : {plan.code[k].a, plan.code[k].b}) {
      if (x >= 0) last_use[root[x]] = std::max(last_use[root[x]], k);
    }
  }
  last_use[root[n - 1]] = std::numeric_limits<int>::max();
  std::vector<int> free_slots;
  for (int k = 0; k < n; ++k) {
    if (!computes(k)) continue;
    KernelInstr& in = plan.code[k];
    if (uses_registers(in.prim)) {
      const int ra = in.a >= 0 ? root[in.a] : -1;
      const int rb = in.b >= 0 ? root[in.b] : -1;
      for (int r : {ra, rb == ra ? -1 : rb}) {
        if (r >= 0 && last_use[r] == k && plan.code[r].slot >= 0) free_slots.push_back(plan.code[r].slot);
      }
    }
    if (free_slots.empty()) {
      in.slot = plan.slots++;
    } else {
      in.slot = free_slots.back();
      free_slots.pop_back();
    }
    if (last_use[k] < 0) free_slots.push_back(in.slot);  // computed and never read (keep's right operand)
  }
  return plan;
}

std::atomic<bool> force_default{false};

bool avx2_cpu() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has && !force_default.load();
}

}  // namespace

std::string fused_capability() {
#ifdef NOS_FUSED_AVX2
  if (avx2_cpu()) return "avx2";
#endif
  return "default";
}

void set_fused_capability(const std::string& choice) {
  if (choice != "auto" && choice != "default") {
    throw UserError("fused kernel capability: expected auto or default, got '" + choice + "'");
  }
  force_default.store(choice == "default");
}

std::string fused_unsupported_reason(const at::Tensor& w, const at::Tensor& g,
                                     const std::vector<at::Tensor>& averages) {
  if (!w.device().is_cpu()) return "the parameter is on " + w.device().str() + " (the fused kernel runs on the CPU)";
  if (w.layout() != at::kStrided || g.layout() != at::kStrided) return "sparse tensors";
  if (w.scalar_type() != at::kFloat && w.scalar_type() != at::kDouble) {
    return std::string("dtype ") + c10::toString(w.scalar_type()) + " (the fused kernel runs float32 and float64)";
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

void fused_update(const Program& program, const at::Tensor& w, const at::Tensor& g, std::vector<at::Tensor>& averages,
                  const StepContext& ctx, const UpdateArgs& args) {
  const std::string reason = fused_unsupported_reason(w, g, averages);
  NOS_CHECK(reason.empty(), "fused update of rule '" << program.canonical_text() << "' on " << reason);
  NOS_CHECK(averages.size() == program.averages().size(),
            "rule '" << program.canonical_text() << "' keeps " << program.averages().size() << " moving averages, got "
                     << averages.size());
  if (program.uses_decay()) NOS_CHECK(ctx.total_steps > 0, "rule '" << program.canonical_text() << "' needs T");
  if (program.is_random()) NOS_CHECK(ctx.generator != nullptr, "rule '" << program.canonical_text() << "' needs a generator");
  if (w.numel() == 0) return;

  // The kernel walks raw memory linearly, so every tensor must be dense and laid out alike (contiguous, or all
  // channels-last, ...). Otherwise it runs on contiguous copies that are copied back.
  bool direct = w.is_non_overlapping_and_dense() && g.strides() == w.strides();
  for (const at::Tensor& a : averages) direct = direct && a.strides() == w.strides();
  at::Tensor wk = direct ? w : w.contiguous();
  at::Tensor gk = direct ? g : g.contiguous();
  std::vector<at::Tensor> ak;
  for (const at::Tensor& a : averages) ak.push_back(direct ? a : a.contiguous());

  std::vector<at::Tensor> keep_alive;
  const fused::Plan plan = make_plan(program, wk, gk, ak, ctx, args, keep_alive);
#ifdef NOS_FUSED_AVX2
  if (avx2_cpu()) {
    fused::AVX2::run(plan);
  } else {
    fused::DEFAULT::run(plan);
  }
#else
  fused::DEFAULT::run(plan);
#endif

  if (!direct) {
    if (!wk.is_same(w)) w.copy_(wk);
    for (size_t i = 0; i < averages.size(); ++i) {
      if (!ak[i].is_same(averages[i])) averages[i].copy_(ak[i]);
    }
  } else if (!w.is_inference()) {
    // The kernel wrote through raw pointers: tell autograd w changed, as w.add_ would.
    w.unsafeGetTensorImpl()->bump_version();
  }
}

void reference_update(const Program& program, const at::Tensor& w, const at::Tensor& g,
                      std::vector<at::Tensor>& averages, const StepContext& ctx, const UpdateArgs& args) {
  const at::Tensor grad = args.weight_decay != 0 ? g.add(w, args.weight_decay) : g;
  const at::Tensor direction = program.direction(w, grad, averages, ctx);
  w.add_(direction, -args.lr);
}

void update(const Program& program, const at::Tensor& w, const at::Tensor& g, std::vector<at::Tensor>& averages,
            const StepContext& ctx, const UpdateArgs& args, bool fused) {
  if (fused && fused_unsupported_reason(w, g, averages).empty()) {
    fused_update(program, w, g, averages, ctx, args);
  } else {
    reference_update(program, w, g, averages, ctx, args);
  }
}

}  // namespace nos::dsl
