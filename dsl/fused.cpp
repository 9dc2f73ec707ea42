// The fused path's planner (scalars folded, random tensors drawn, aliases and block buffers assigned) and dispatch.
#include "dsl/fused.h"

#include <atomic>
#include <algorithm>
#include <cmath>
#include <limits>

#include "dsl/error.h"
#include "dsl/fused_kernel.h"

namespace nos::dsl {

namespace {

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
    if (folds_to_scalar(src.prim, a != nullptr && a->scalar, b != nullptr && b->scalar)) {
      in.scalar = true;
      in.value = fold_scalar(src, a != nullptr ? a->value : 0.0, b != nullptr ? b->value : 0.0, ctx);
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

  // Three-valued tensors (−k, 0, k), in the dtype's arithmetic, as the reference computes them.
  auto in_dtype = [&](double x) { return plan.is_double ? x : static_cast<double>(static_cast<float>(x)); };
  for (size_t k = 0; k < code.size(); ++k) {
    KernelInstr& in = plan.code[k];
    if (in.scalar) continue;
    auto tv = [&](int r) { return plan.code[r].three_valued; };
    auto known = [&](int r) { return !plan.code[r].scalar && std::isfinite(tv(r)); };
    double value = std::numeric_limits<double>::quiet_NaN();
    switch (in.prim) {
      case Prim::kSign: value = 1.0; break;
      case Prim::kNeg: if (known(in.a)) value = tv(in.a); break;
      case Prim::kIdentity:
      case Prim::kKeep: if (known(in.a)) value = tv(in.a); break;
      case Prim::kMul: {
        const KernelInstr& a = plan.code[in.a];
        const KernelInstr& b = plan.code[in.b];
        if (known(in.a) && known(in.b)) value = in_dtype(tv(in.a) * tv(in.b));
        if (known(in.a) && b.scalar) value = in_dtype(tv(in.a) * in_dtype(b.value));
        if (a.scalar && known(in.b)) value = in_dtype(tv(in.b) * in_dtype(a.value));
        break;
      }
      case Prim::kExp: in.exp_select = known(in.a); break;
      default: break;
    }
    in.three_valued = std::isfinite(value) ? std::fabs(value) : std::numeric_limits<double>::quiet_NaN();
  }

  // Operand inlining: a sign, neg, exp select or corrected average read by one +, − or × only is recomputed as
  // that operand is read instead of being written to a block buffer and read back.
  const int n = static_cast<int>(code.size());
  auto is_fetching = [&](const KernelInstr& in) {
    return !in.scalar && in.alias < 0 && (in.prim == Prim::kAdd || in.prim == Prim::kSub || in.prim == Prim::kMul);
  };
  std::vector<int> uses(n, 0);
  for (int k = 0; k < n; ++k) {
    const KernelInstr& in = plan.code[k];
    if (in.scalar || !uses_registers(in.prim)) continue;
    for (int x : {in.a, in.b}) {
      if (x >= 0) ++uses[x];
    }
  }
  auto computes_tensor = [&](int r) { return !plan.code[r].scalar && plan.code[r].alias < 0; };
  for (int k = 0; k < n; ++k) {
    KernelInstr& in = plan.code[k];
    if (!is_fetching(in)) continue;
    for (int side = 0; side < 2; ++side) {
      const int x = side == 0 ? in.a : in.b;
      KernelInstr::Fetch& f = side == 0 ? in.fetch_a : in.fetch_b;
      f.source = x;
      if (x < 0 || plan.code[x].scalar || !computes_tensor(x) || uses[x] != 1 || x == n - 1) continue;
      KernelInstr& p = plan.code[x];
      // The inlined instruction's own operand must be in memory or in a buffer (one level of inlining).
      auto materialised = [&](int y) { return y >= 0 && !plan.code[y].scalar && !plan.code[y].inlined; };
      const bool corrected_average = p.prim == Prim::kM || p.prim == Prim::kV || p.prim == Prim::kY;
      if (p.prim == Prim::kSign && materialised(p.a)) {
        const KernelInstr& y = plan.code[p.a];
        const bool raw_average = (y.prim == Prim::kM || y.prim == Prim::kV || y.prim == Prim::kY) &&
                                 computes_tensor(p.a) && uses[p.a] == 1 && !y.inlined;
        if (raw_average) {
          // sign(m̂) = sign(m): read the raw average, and m̂ is never computed.
          f.kind = KernelInstr::Fetch::kSignOfAverage;
          f.source = y.a;
          plan.code[p.a].inlined = true;
        } else {
          f.kind = KernelInstr::Fetch::kSign;
          f.source = p.a;
        }
      } else if (p.prim == Prim::kNeg && materialised(p.a)) {
        f.kind = KernelInstr::Fetch::kNeg;
        f.source = p.a;
      } else if (p.prim == Prim::kExp && p.exp_select && materialised(p.a)) {
        f.kind = KernelInstr::Fetch::kExpSelect;
        f.source = p.a;
        f.k = plan.code[p.a].three_valued;
      } else if (corrected_average) {
        f.kind = KernelInstr::Fetch::kScaledAverage;
        f.source = p.a;
      } else if (is_fetching(p) && (plan.code[p.a].scalar != plan.code[p.b].scalar)) {
        // x + s, x·s, s − x or x − s, its tensor side read plainly: recomputed in the consumer.
        const bool left = plan.code[p.a].scalar;
        const KernelInstr::Fetch& inner = left ? p.fetch_b : p.fetch_a;
        if (inner.kind != KernelInstr::Fetch::kPlain || !materialised(inner.source)) continue;
        f.source = inner.source;
        f.k = plan.code[left ? p.a : p.b].value;
        if (p.prim == Prim::kAdd) f.kind = KernelInstr::Fetch::kPlusScalar;
        if (p.prim == Prim::kMul) f.kind = KernelInstr::Fetch::kTimesScalar;
        if (p.prim == Prim::kSub) f.kind = left ? KernelInstr::Fetch::kScalarMinus : KernelInstr::Fetch::kMinusScalar;
      } else {
        continue;
      }
      p.inlined = true;
    }
  }

  // Block buffers: one per computing instruction while its value is live (aliases of it included), reused after.
  // What each evaluated instruction reads: its fetches' registers for + − ×, else its register operands.
  auto reads = [&](int k) {
    std::vector<int> r;
    const KernelInstr& in = plan.code[k];
    if (is_fetching(in)) {
      for (const KernelInstr::Fetch* f : {&in.fetch_a, &in.fetch_b}) {
        const bool average = f->kind == KernelInstr::Fetch::kScaledAverage ||
                             f->kind == KernelInstr::Fetch::kSignOfAverage;
        if (!average && f->source >= 0 && !plan.code[f->source].scalar) r.push_back(f->source);
      }
    } else if (uses_registers(in.prim)) {
      for (int x : {in.a, in.b}) {
        if (x >= 0) r.push_back(x);
      }
    }
    return r;
  };
  std::vector<int> root(n), last_use(n, -1);
  for (int k = 0; k < n; ++k) {
    const KernelInstr& in = plan.code[k];
    root[k] = in.alias >= 0 && plan.alias_source[k] == fused::kSourceInstr ? root[in.alias] : k;
  }
  auto computes = [&](int k) { return !plan.code[k].scalar && plan.code[k].alias < 0 && !plan.code[k].inlined; };
  for (int k = 0; k < n; ++k) {
    if (!computes(k)) continue;
    for (int x : reads(k)) last_use[root[x]] = std::max(last_use[root[x]], k);
  }
  last_use[root[n - 1]] = std::numeric_limits<int>::max();
  std::vector<int> free_slots;
  for (int k = 0; k < n; ++k) {
    if (!computes(k)) continue;
    KernelInstr& in = plan.code[k];
    std::vector<int> roots;
    for (int x : reads(k)) {
      if (std::find(roots.begin(), roots.end(), root[x]) == roots.end()) roots.push_back(root[x]);
    }
    for (int r : roots) {
      if (last_use[r] == k && plan.code[r].slot >= 0) free_slots.push_back(plan.code[r].slot);
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

// The capability set_fused_capability asked for: 0 auto, 1 default, 2 avx2, 3 avx512.
std::atomic<int> requested{0};

bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
bool cpu_has_avx512() {
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
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

}  // namespace

std::string fused_capability() { return active_capability(); }

void set_fused_capability(const std::string& choice) {
  const char* names[] = {"auto", "default", "avx2", "avx512"};
  for (int i = 0; i < 4; ++i) {
    if (choice == names[i]) {
      requested.store(i);
      return;
    }
  }
  throw UserError("fused kernel capability: expected auto, default, avx2 or avx512, got '" + choice + "'");
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
  // The build of the kernel for this CPU (or the one set_fused_capability asked for).
  void (*run)(const fused::Plan&) = fused::DEFAULT::run;
  const std::string capability = active_capability();
#ifdef NOS_FUSED_AVX512
  if (capability == "avx512") run = fused::AVX512::run;
#endif
#ifdef NOS_FUSED_AVX2
  if (capability == "avx2") run = fused::AVX2::run;
#endif
  run(plan);

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
