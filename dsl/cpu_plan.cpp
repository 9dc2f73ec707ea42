// The fused path's planner (scalars folded, random tensors drawn, aliases and block buffers assigned) and dispatch.
#include "dsl/fused.h"

#include <atomic>
#include <algorithm>
#include <cmath>
#include <limits>

#include "dsl/elementwise.h"
#include "dsl/error.h"
#include "dsl/fused_kernel.h"

namespace nos::dsl {

namespace {


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

  const std::vector<bool> scalar = scalar_instructions(program);
  const std::vector<double> values = scalar_values(program, scalar, ctx);
  plan.code.resize(code.size());
  plan.alias_source.assign(code.size(), -1);
  for (size_t k = 0; k < code.size(); ++k) {
    const Program::Instr& src = code[k];
    KernelInstr& in = plan.code[k];
    in.prim = src.prim;
    in.param = src.param;
    in.a = src.a;
    in.b = src.b;
    const KernelInstr* a = reads_registers(src.prim) && src.a >= 0 ? &plan.code[src.a] : nullptr;
    if (scalar[k]) {
      in.scalar = true;
      in.value = values[k];
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
      case Prim::kANoise: alias(fused::kSourceRandom, draw(draw_random(src, g, ctx))); break;
      case Prim::kDrop: in.random = draw(draw_random(src, g, ctx)); break;
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

  const int n = static_cast<int>(code.size());
  auto tensor = [&](int r) { return r >= 0 && !plan.code[r].scalar; };
  // The one tensor operand of an instruction whose other operands are scalars (-1 when there are two).
  auto tensor_operand = [&](const KernelInstr& in) {
    if (!reads_registers(in.prim)) return -1;
    const bool ta = tensor(in.a), tb = tensor(in.b);
    if (ta && !tb) return in.a;
    if (tb && !ta) return in.b;
    return -1;
  };

  // Select-valued instructions (KernelInstr::select), in code order.
  for (int k = 0; k < n; ++k) {
    KernelInstr& in = plan.code[k];
    if (in.scalar || in.prim == Prim::kDrop) continue;
    const int t = tensor_operand(in);
    auto copy_sources = [&](const KernelInstr& from) {
      in.sources = from.sources;
      for (int i = 0; i < 2; ++i) {
        in.source[i] = from.source[i];
        in.source_average[i] = from.source_average[i];
      }
    };
    if (in.prim == Prim::kMul && tensor(in.a) && tensor(in.b)) {
      // Two odd selects of one source each: σ = σ₁·σ₂ (values exact up to the sign of a zero).
      const KernelInstr& a = plan.code[in.a];
      const KernelInstr& b = plan.code[in.b];
      if (a.select == KernelInstr::kSelectExact && a.odd && a.sources == 1 && b.select == KernelInstr::kSelectExact &&
          b.odd && b.sources == 1) {
        in.select = KernelInstr::kSelectOddPair;
        in.sources = 2;
        in.source[0] = a.source[0];
        in.source_average[0] = a.source_average[0];
        in.source[1] = b.source[0];
        in.source_average[1] = b.source_average[0];
      }
      continue;
    }
    if (t < 0) continue;
    const KernelInstr& x = plan.code[t];
    const bool scalar_left = reads_registers(in.prim) && in.b == t && tensor(in.b);
    // The scalar operand as the kernel uses it (in the dtype): whether it is 0 and of which sign matters below.
    const double s0 = scalar_left ? plan.code[in.a].value : (in.b >= 0 && !tensor(in.b) ? plan.code[in.b].value : 0);
    const double s = plan.is_double ? s0 : static_cast<double>(static_cast<float>(s0));
    if (x.select == KernelInstr::kNoSelect) {
      if (in.prim != Prim::kSign) continue;
      // The root: sign(x), σ = sign(x). A moving average is read raw (sign(m̂) = sign(m)).
      in.select = KernelInstr::kSelectExact;
      in.odd = true;
      in.sources = 1;
      const bool average = x.prim == Prim::kM || x.prim == Prim::kV || x.prim == Prim::kY;
      in.source[0] = average ? x.a : t;
      in.source_average[0] = average;
    } else if (x.select == KernelInstr::kSelectExact) {
      // Any elementwise function of a function of σ is one.
      in.select = KernelInstr::kSelectExact;
      copy_sources(x);
      const bool odd_preserving = in.prim == Prim::kNeg || in.prim == Prim::kSign || in.prim == Prim::kClip ||
                                  in.prim == Prim::kIdentity || in.prim == Prim::kKeep || in.prim == Prim::kMul ||
                                  (in.prim == Prim::kDiv && !scalar_left);
      in.odd = x.odd && odd_preserving;
    } else {
      // An odd pair's zeros are +0 or −0 by element: only functions that map both alike make a select of it.
      bool resolves = in.prim == Prim::kExp || in.prim == Prim::kLog || in.prim == Prim::kSqrt || in.prim == Prim::kSign;
      // ±0 + s = s, and +0 for s = +0; s − ±0 = s, and +0 for s = +0; ±0 − s = −s for s ≠ 0.
      if (in.prim == Prim::kAdd || (in.prim == Prim::kSub && scalar_left)) resolves = s != 0 || !std::signbit(s);
      if (in.prim == Prim::kSub && !scalar_left) resolves = s != 0;
      if (!resolves) continue;
      in.select = KernelInstr::kSelectExact;
      in.odd = in.prim == Prim::kSign;
      copy_sources(x);
    }
    if (in.alias >= 0) {
      // identity or keep of a select: a select itself, its operand may never be evaluated.
      in.alias = -1;
      plan.alias_source[k] = -1;
    }
  }

  // How + − × read their operands: a select from its sources, and a cheap instruction read by it alone (−x, a
  // bias-corrected average, x + s, x·s, s − x, x − s) recomputed as it is read.
  auto is_fetching = [&](const KernelInstr& in) {
    return !in.scalar && in.alias < 0 && in.select != KernelInstr::kSelectExact &&
           (in.prim == Prim::kAdd || in.prim == Prim::kSub || in.prim == Prim::kMul);
  };
  std::vector<int> uses(n, 0);
  for (int k = 0; k < n; ++k) {
    const KernelInstr& in = plan.code[k];
    if (in.scalar || !reads_registers(in.prim)) continue;
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
      if (!tensor(x) || !computes_tensor(x)) continue;
      const KernelInstr& p = plan.code[x];
      if (p.select == KernelInstr::kSelectExact) {
        f.kind = p.sources == 1 ? KernelInstr::Fetch::kSelect1 : KernelInstr::Fetch::kSelect2;
        continue;
      }
      if (uses[x] != 1 || x == n - 1 || p.select != KernelInstr::kNoSelect) continue;
      if (p.prim == Prim::kNeg) {
        f.kind = KernelInstr::Fetch::kNeg;
        f.source = p.a;
      } else if (p.prim == Prim::kM || p.prim == Prim::kV || p.prim == Prim::kY) {
        f.kind = KernelInstr::Fetch::kScaledAverage;
        f.source = p.a;
      } else if (is_fetching(p) && tensor(p.a) != tensor(p.b)) {
        // x + s, x·s, s − x or x − s, its tensor side read plainly: recomputed in the consumer.
        const bool left = !tensor(p.a);
        const KernelInstr::Fetch& inner = left ? p.fetch_b : p.fetch_a;
        if (inner.kind != KernelInstr::Fetch::kPlain) continue;
        f.source = inner.source;
        f.k = plan.code[left ? p.a : p.b].value;
        if (p.prim == Prim::kAdd) f.kind = KernelInstr::Fetch::kPlusScalar;
        if (p.prim == Prim::kMul) f.kind = KernelInstr::Fetch::kTimesScalar;
        if (p.prim == Prim::kSub) f.kind = left ? KernelInstr::Fetch::kScalarMinus : KernelInstr::Fetch::kMinusScalar;
      }
    }
  }

  // What each evaluated instruction reads from registers: a select its sources, + − × their fetches' registers,
  // anything else its tensor operands.
  auto select_reads = [&](const KernelInstr& sel, std::vector<int>& r) {
    for (int i = 0; i < sel.sources; ++i) {
      if (!sel.source_average[i]) r.push_back(sel.source[i]);
    }
  };
  auto reads = [&](int k) {
    std::vector<int> r;
    const KernelInstr& in = plan.code[k];
    if (in.select == KernelInstr::kSelectExact) {
      select_reads(in, r);
    } else if (is_fetching(in)) {
      for (const KernelInstr::Fetch* f : {&in.fetch_a, &in.fetch_b}) {
        if (f->kind == KernelInstr::Fetch::kScaledAverage) continue;
        if (f->kind == KernelInstr::Fetch::kSelect1 || f->kind == KernelInstr::Fetch::kSelect2) {
          select_reads(plan.code[f->source], r);
        } else if (tensor(f->source)) {
          r.push_back(f->source);
        }
      }
    } else if (reads_registers(in.prim)) {
      for (int x : {in.a, in.b}) {
        if (tensor(x)) r.push_back(x);
      }
    }
    return r;
  };
  // Which instructions are evaluated: the result, and (backwards) whatever an evaluated one reads; an alias
  // of an instruction needs that instruction.
  std::vector<bool> needed(n, false);
  needed[n - 1] = true;
  for (int k = n - 1; k >= 0; --k) {
    const KernelInstr& in = plan.code[k];
    if (!needed[k] || in.scalar) continue;
    if (in.alias >= 0) {
      if (plan.alias_source[k] == fused::kSourceInstr) needed[in.alias] = true;
      continue;
    }
    for (int x : reads(k)) needed[x] = true;
  }
  for (int k = 0; k < n; ++k) {
    KernelInstr& in = plan.code[k];
    in.inlined = !in.scalar && in.alias < 0 && !needed[k];
  }
  auto computes = [&](int k) { return plan.code[k].evaluated(); };
  for (int k = 0; k < n && plan.update_averages_at < 0; ++k) {
    if (computes(k)) plan.update_averages_at = k;
  }

  // Block buffers: one per evaluated instruction while its value is live (aliases of it included), reused after.
  std::vector<int> root(n), last_use(n, -1);
  for (int k = 0; k < n; ++k) {
    const KernelInstr& in = plan.code[k];
    root[k] = in.alias >= 0 && plan.alias_source[k] == fused::kSourceInstr ? root[in.alias] : k;
  }
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
    if (k == n - 1) break;  // the result is applied to w as it is computed: no buffer
    if (free_slots.empty()) {
      in.slot = plan.slots++;
    } else {
      in.slot = free_slots.back();
      free_slots.pop_back();
    }
    if (last_use[k] < 0) free_slots.push_back(in.slot);  // computed and never read
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

std::string fused_unsupported_reason(const at::Tensor& w, const at::Tensor& g,
                                     const std::vector<at::Tensor>& averages) {
  if (!w.device().is_cpu()) return "the parameter is on " + w.device().str() + " (the fused kernel runs on the CPU)";
  return fused_operand_mismatch(w, g, averages);
}

#ifndef NOS_WITH_NVRTC
// This build's LibTorch has no CUDA (or its headers lack ATen's NVRTC stub): dsl/cuda_fused.cpp is not built.
bool cuda_fused_built() { return false; }
std::string cuda_fused_unsupported_reason(const at::Tensor&, const at::Tensor&, const std::vector<at::Tensor>&) {
  return "this build has no CUDA fused kernel (LibTorch without CUDA, or without ATen's NVRTC stub)";
}
bool cuda_fused_update(const Program&, const at::Tensor&, const at::Tensor&, std::vector<at::Tensor>&,
                       const StepContext&, const UpdateArgs&) {
  return false;
}
#endif

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
  const fused::Plan plan = make_plan(program, dense.w, dense.g, dense.averages, ctx, args, keep_alive);
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
  const fused::Plan plan = make_plan(program, w, g, averages, ctx, UpdateArgs{1.0, weight_decay ? 0.1 : 0.0},
                                     keep_alive);
  FusedShape shape;
  shape.buffers = plan.slots;
  for (const fused::KernelInstr& in : plan.code) {
    if (in.evaluated()) ++shape.passes;
  }
  const fused::KernelInstr& last = plan.code.back();
  if (last.scalar || last.alias >= 0) ++shape.passes;
  if (weight_decay) ++shape.passes;
  return shape;
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
    return;
  }
  if (fused && w.is_cuda() && cuda_fused_update(program, w, g, averages, ctx, args)) return;
  reference_update(program, w, g, averages, ctx, args);
}

}  // namespace nos::dsl
