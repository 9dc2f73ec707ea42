// The fused CPU kernel: a compiled rule evaluated block by block in one pass over w, g and the moving averages.
//
// Compiled once per CPU capability (CMake sets CPU_CAPABILITY to DEFAULT or AVX2 and the matching -m flags), the way
// ATen compiles its own kernels, so at::vec::Vectorized is the same vector type and the same SLEEF functions that
// the reference path's torch ops use: exp, log and pow agree bit for bit with the reference, and each other
// operation is written in the order ATen's kernel computes it (fmadd where ATen's add-with-alpha uses one).
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "dsl/error.h"
#include "dsl/cpu_kernel.h"

namespace nos::dsl::cpu {
namespace CPU_CAPABILITY {

namespace {

using at::vec::Vectorized;

// Pointers to one block (kBlock elements) of every memory-backed value.
template <typename T>
struct Block {
  T* w;
  const T* g_in;
  std::vector<T*> averages;
  std::vector<const T*> random;
  std::vector<T*> reductions;  // the operands of reductions, written by their stage
};

// ATen's sign kernel, (0 < x) − (x < 0), so sign(NaN) = 0 as in the reference path. The comparisons give
// all-ones lanes, so masking 1 with them gives ATen's blends' values (1 or +0) in fewer instructions.
template <typename T>
Vectorized<T> sign_of(const Vectorized<T>& x) {
  const Vectorized<T> zero(T(0)), one(T(1));
  return ((zero < x) & one) - ((x < zero) & one);
}

// at::pow(x, e) for a scalar e: ATen's shortcuts for its special exponents (update_math.h) first, so the fused path
// computes what the reference computes.
template <typename T>
Vectorized<T> pow_scalar(const Vectorized<T>& x, double e) {
  switch (pow_shortcut(e)) {
    case PowShortcut::kOne: return Vectorized<T>(T(1));
    case PowShortcut::kIdentity: return x;
    case PowShortcut::kSqrt: return x.sqrt();
    case PowShortcut::kSquare: return x * x;
    case PowShortcut::kCube: return x * x * x;
    case PowShortcut::kRsqrt: return x.rsqrt();
    case PowShortcut::kReciprocal: return x.reciprocal();
    case PowShortcut::kReciprocalSquare: return (x * x).reciprocal();
    case PowShortcut::kNone: break;
  }
  return x.pow(Vectorized<T>(static_cast<T>(e)));
}


template <typename T>
class BlockRunner {
 public:
  using V = Vectorized<T>;
  static constexpr int64_t kLanes = V::size();
  // Elements per chunk of the pass that also updates the moving averages.
  static constexpr int64_t kChunk = 256;
  static_assert(kBlock % kChunk == 0 && kChunk % 16 == 0, "a block is a whole number of chunks and vectors");

  explicit BlockRunner(const Plan& plan)
      : plan_(plan),
        slots_(static_cast<size_t>(plan.slots) * kBlock),
        gbuf_(kBlock),
        ptr_(plan.code.size()),
        triples_(plan.code.size()) {
    // Per-average constants, made once: the loops below must not recompute them per vector.
    for (const KernelAverage& a : plan.averages) {
      // As Program::direction: multiplied by 1/(1 − β^t) and 1/√(1 − β^t), made in double (update_math.h).
      corrected_.push_back(a.correction.applies());
      correction_.emplace_back(static_cast<T>(a.correction.scale));
      sqrt_correction_.emplace_back(static_cast<T>(a.correction.sqrt_scale));
      beta_.emplace_back(static_cast<T>(a.beta));
      rest_.emplace_back(static_cast<T>(1.0 - a.beta));
      has_previous_ = has_previous_ || a.moment == Moment::kPrev;
    }
    // The three values of every select (σ = −1, 0, +1), each computed by the vector code that computes the
    // instruction per element, from its operand's three values (sign's operand: −1, 0, 1 stand for σ itself).
    for (size_t k = 0; k < plan.code.size(); ++k) {
      const KernelInstr& in = plan.code[k];
      if (in.select == KernelInstr::kNoSelect) continue;
      Triple& out = triples_[k];
      if (in.select == KernelInstr::kSelectOddPair) {
        // σ = σ₁·σ₂: +1 from (+1, +1), −1 from (+1, −1); 0 stands for a zero of either sign (never read).
        const Triple& x = triples_[in.a];
        const Triple& y = triples_[in.b];
        out = {x[2] * y[0], x[1] * y[1], x[2] * y[2]};
        continue;
      }
      const int t = is_scalar(in.a) ? in.b : in.a;
      const KernelInstr& operand = plan.code[t];
      const Triple sigma = {V(T(-1)), V(T(0)), V(T(1))};
      const Triple& x = operand.select == KernelInstr::kNoSelect ? sigma : triples_[t];
      with_unary(in, [&](auto op) { out = {op(x[0]), op(x[1]), op(x[2])}; });
    }
  }

  void run(const Block<T>& blk) {
    const int64_t n = kBlock;
    // The fused multiply-add x·a + y of update_math.h's steps around the rule (ATen's add with alpha).
    auto fma = [](const V& x, const V& a, const V& y) { return at::vec::fmadd(x, a, y); };
    // g' = g + weight_decay·w, as reference_update computes it (update_math.h).
    const T* g = blk.g_in;
    if (plan_.weight_decay != 0) {
      const V wd(static_cast<T>(plan_.weight_decay));
      for (int64_t j = 0; j < n; j += kLanes) {
        decayed_gradient(V::loadu(blk.g_in + j), V::loadu(blk.w + j), wd, fma).store(gbuf_.data() + j);
      }
      g = gbuf_.data();
    }
    averages_ = blk.averages.data();
    if (plan_.stages > 1) return run_stage(blk, g);
    const bool has_averages = !plan_.averages.empty();
    const auto apply = applier(blk.w);
    // The rule, instruction by instruction over the block. The pass of plan_.update_averages_at first updates
    // the moving averages, chunk by chunk (see each), so the averages are read and written once.
    for (size_t k = 0; k < plan_.code.size(); ++k) {
      const KernelInstr& in = plan_.code[k];
      if (in.scalar || in.inlined) continue;
      if (in.alias >= 0) {
        set_alias(k, g, blk);
        continue;
      }
      update_g_ = has_averages && static_cast<int>(k) == plan_.update_averages_at ? g : nullptr;
      if (k + 1 == plan_.code.size()) {
        // The result: applied to w as it is computed, without a pass through a buffer.
        evaluate(in, g, blk, apply);
        update_previous(g);
        return;
      }
      T* out = slots_.data() + static_cast<size_t>(in.slot) * kBlock;
      evaluate(in, g, blk, [out](int64_t j, const V& x) { x.store(out + j); });
      update_g_ = nullptr;
      ptr_[k] = out;
    }
    // A result in memory or a scalar: w ← w − lr·direction in a pass of its own (which updates the averages
    // when no instruction is evaluated).
    update_g_ = has_averages && plan_.update_averages_at < 0 ? g : nullptr;
    apply_result(apply);
    update_g_ = nullptr;
    update_previous(g);
  }

 private:
  using Triple = std::array<V, 3>;  // a select's values for σ = −1, 0, +1

  // One stage of a rule with reductions (Plan::stages): the first updates the averages over the whole block before
  // anything reads them; each writes the operands of its level's reductions, the last applies the update.
  void run_stage(const Block<T>& blk, const T* g) {
    const int stage = plan_.stage;
    const bool last = stage == plan_.stages - 1;
    const std::vector<char>& evaluates = plan_.evaluates[static_cast<size_t>(stage)];
    if (stage == 0 && !plan_.averages.empty()) {
      update_g_ = g;
      update_averages(0, kBlock);
    }
    update_g_ = nullptr;
    const auto apply = applier(blk.w);
    for (size_t k = 0; k < plan_.code.size(); ++k) {
      const KernelInstr& in = plan_.code[k];
      if (in.alias >= 0) {
        set_alias(k, g, blk);
        continue;
      }
      if (!evaluates[k]) continue;
      if (in.reduction >= 0 && in.level == stage) {
        // The operand, whole, to the memory ATen reduces.
        T* to = blk.reductions[in.reduction];
        if (is_scalar(in.a)) {
          std::fill(to, to + kBlock, scalar_of(in.a));
        } else {
          std::copy(ptr_[in.a], ptr_[in.a] + kBlock, to);
        }
        continue;
      }
      if (last && k + 1 == plan_.code.size()) {
        evaluate(in, g, blk, apply);
        update_previous(g);
        return;
      }
      T* out = slots_.data() + static_cast<size_t>(in.slot) * kBlock;
      evaluate(in, g, blk, [out](int64_t j, const V& x) { x.store(out + j); });
      ptr_[k] = out;
    }
    if (!last) return;
    apply_result(apply);
    update_previous(g);
  }

  // The result's sink: w ← w − lr·direction, as reference_update computes it (update_math.h), with ATen's
  // add-with-alpha fused multiply-add.
  auto applier(T* w) const {
    const V minus_lr(static_cast<T>(-plan_.lr));
    return [w, minus_lr](int64_t j, const V& d) {
      applied_update(V::loadu(w + j), d, minus_lr, [](const V& x, const V& a, const V& y) {
        return at::vec::fmadd(x, a, y);
      }).store(w + j);
    };
  }

  // A result held in memory or a scalar, applied in a pass of its own.
  template <typename Sink>
  void apply_result(const Sink& apply) const {
    const KernelInstr& result = plan_.code.back();
    if (result.scalar) {
      const V d(static_cast<T>(result.value));
      each(apply, [d](int64_t) { return d; });
    } else {
      const T* d = ptr_.back();
      each(apply, [d](int64_t j) { return V::loadu(d + j); });
    }
  }

  // Where aliasing instruction k's value lives in this block.
  void set_alias(size_t k, const T* g, const Block<T>& blk) {
    const KernelInstr& in = plan_.code[k];
    switch (plan_.alias_source[k]) {
      case kSourceGrad: ptr_[k] = g; break;
      case kSourceWeight: ptr_[k] = blk.w; break;
      case kSourceAverage: ptr_[k] = blk.averages[in.alias]; break;
      case kSourceRandom: ptr_[k] = blk.random[in.alias]; break;
      case kSourceInstr: ptr_[k] = ptr_[in.alias]; break;
      default: NOS_CHECK(false, "unknown alias source");
    }
  }

  // The moving averages over elements [begin, end) of the block, in place, as Program::direction updates them:
  // buf·β, then + (1−β)·(g | g·g | g·g·g); vmax after its v (sorted before it); s + g·g; mp later (update_previous).
  // Not inlined: `each` calls it once per chunk of 256 elements, and inlined into each of the kernel's loops it
  // would only multiply the file's compile time.
  [[gnu::noinline]] void update_averages(int64_t begin, int64_t end) const {
    const T* g = update_g_;
    for (size_t i = 0; i < plan_.averages.size(); ++i) {
      T* buf = averages_[i];
      const V beta = beta_[i], rest = rest_[i];
      switch (plan_.averages[i].moment) {
        case Moment::kFirst:
          for (int64_t j = begin; j < end; j += kLanes) {
            at::vec::fmadd(V::loadu(g + j), rest, V::loadu(buf + j) * beta).store(buf + j);
          }
          break;
        case Moment::kSecond:
          // ATen's addcmul, self + (s·t1)·t2, as its compiler contracts it: fma(s·t1, t2, self).
          for (int64_t j = begin; j < end; j += kLanes) {
            const V gj = V::loadu(g + j);
            at::vec::fmadd(rest * gj, gj, V::loadu(buf + j) * beta).store(buf + j);
          }
          break;
        case Moment::kThird:
          for (int64_t j = begin; j < end; j += kLanes) {
            const V gj = V::loadu(g + j);
            at::vec::fmadd(gj * gj * gj, rest, V::loadu(buf + j) * beta).store(buf + j);
          }
          break;
        case Moment::kMaxSecond: {
          // at::maximum: NaN in either gives NaN.
          const T* v = averages_[plan_.averages[i].partner];
          for (int64_t j = begin; j < end; j += kLanes) {
            at::vec::maximum(V::loadu(buf + j), V::loadu(v + j)).store(buf + j);
          }
          break;
        }
        case Moment::kSum:
          // addcmul with value 1: fma(1·g, g, s).
          for (int64_t j = begin; j < end; j += kLanes) {
            const V gj = V::loadu(g + j);
            at::vec::fmadd(gj, gj, V::loadu(buf + j)).store(buf + j);
          }
          break;
        case Moment::kPrev:
        case Moment::kNone: break;
      }
    }
  }

  // mp's buffers over the whole block, after every instruction has read them: buf·β + (1−β)·g.
  void update_previous(const T* g) const {
    if (!has_previous_) return;
    for (size_t i = 0; i < plan_.averages.size(); ++i) {
      if (plan_.averages[i].moment != Moment::kPrev) continue;
      T* buf = averages_[i];
      const V beta = beta_[i], rest = rest_[i];
      for (int64_t j = 0; j < kBlock; j += kLanes) {
        at::vec::fmadd(V::loadu(g + j), rest, V::loadu(buf + j) * beta).store(buf + j);
      }
    }
  }

  // Applies f to every vector of the block: out(j, f(j)), j stepping over the lanes. In the pass that updates
  // the moving averages, it goes in chunks small enough to stay in L1: the averages over a chunk, then f over it.
  template <typename Sink, typename F>
  void each(const Sink& out, F f) const {
    if (update_g_ != nullptr) {
      for (int64_t c = 0; c < kBlock; c += kChunk) {
        update_averages(c, c + kChunk);
        for (int64_t j = c; j < c + kChunk; j += kLanes) out(j, f(j));
      }
    } else {
      for (int64_t j = 0; j < kBlock; j += kLanes) out(j, f(j));
    }
  }

  T scalar_of(int reg) const { return static_cast<T>(plan_.code[reg].value); }
  bool is_scalar(int reg) const { return plan_.code[reg].scalar; }

  // Calls f with the elementwise function x → value of an instruction with one tensor operand x (its other
  // operand, if any, a scalar). Each follows the torch op of Program::direction's same case; the scalar side stays
  // where the reference has it (b + s, s − b, b·s). The three groups below are separate so that a caller which can
  // meet only one group instantiates only its functions (each instantiation over every fetch and sink costs compile
  // time, not run time: the fused kernel is the build's longest file).
  template <typename F>
  void with_unary(const KernelInstr& in, F f) const {
    switch (in.prim) {
      case Prim::kAdd:
      case Prim::kSub:
      case Prim::kMul: return with_scalar_arithmetic(in, f);
      case Prim::kDiv:
      case Prim::kMax:
      case Prim::kMin:
      case Prim::kPow: return with_scalar_function(in, f);
      default: return with_function(in, f);
    }
  }

  // neg, exp, log, sqrt, sign, abs, clip (and identity, keep).
  template <typename F>
  void with_function(const KernelInstr& in, F f) const {
    switch (in.prim) {
      case Prim::kIdentity:
      case Prim::kKeep: return f([](const V& x) { return x; });
      case Prim::kNeg: return f([](const V& x) { return x.neg(); });
      case Prim::kExp: return f([](const V& x) { return x.exp(); });
      case Prim::kLog: return f([](const V& x) { return x.abs().log(); });
      case Prim::kSqrt: return f([](const V& x) { return x.abs().sqrt(); });
      case Prim::kSign: return f([](const V& x) { return sign_of(x); });
      case Prim::kClip: {
        const V lo(static_cast<T>(-in.param)), hi(static_cast<T>(in.param));
        return f([lo, hi](const V& x) { return at::vec::clamp(x, lo, hi); });
      }
      case Prim::kAbs: return f([](const V& x) { return x.abs(); });
      // No one-operand form: operands, drop (which multiplies by its mask), and the binary functions (above).
      case Prim::kAdd:
      case Prim::kSub:
      case Prim::kMul:
      case Prim::kDiv:
      case Prim::kMax:
      case Prim::kMin:
      case Prim::kPow:
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
      case Prim::kLD:
      case Prim::kCD:
      case Prim::kRD:
      case Prim::kConst:
      case Prim::kDrop:
      case Prim::kVMax:
      case Prim::kS:
      case Prim::kMP:
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
    NOS_CHECK(false, "instruction " << static_cast<int>(in.prim) << " has no one-operand form");
  }

  // + − × with one scalar operand.
  template <typename F>
  void with_scalar_arithmetic(const KernelInstr& in, F f) const {
    const bool scalar_left = is_scalar(in.a);
    const V s(scalar_of(scalar_left ? in.a : in.b));
    if (in.prim == Prim::kAdd) return f([s](const V& x) { return x + s; });
    if (in.prim == Prim::kMul) return f([s](const V& x) { return x * s; });
    NOS_CHECK(in.prim == Prim::kSub, "instruction " << static_cast<int>(in.prim) << " is not + − ×");
    if (scalar_left) return f([s](const V& x) { return s - x; });
    return f([s](const V& x) { return x - s; });
  }

  // / ^ max min with one scalar operand.
  template <typename F>
  void with_scalar_function(const KernelInstr& in, F f) const {
    const bool scalar_left = is_scalar(in.a);
    const int scalar = scalar_left ? in.a : in.b;
    switch (in.prim) {
      case Prim::kDiv: {
        if (scalar_left) {
          // The reference: reciprocal(b + ε)·a.
          const V s(scalar_of(scalar)), eps(static_cast<T>(kDivEpsilon));
          return f([s, eps](const V& x) { return (x + eps).reciprocal() * s; });
        }
        const V s(static_cast<T>(plan_.code[scalar].value + kDivEpsilon));
        return f([s](const V& x) { return x / s; });
      }
      // The reference clamps by the scalar side (ATen's clamp keeps NaN).
      case Prim::kMax: {
        const V s(scalar_of(scalar));
        return f([s](const V& x) { return at::vec::clamp_min(x, s); });
      }
      case Prim::kMin: {
        const V s(scalar_of(scalar));
        return f([s](const V& x) { return at::vec::clamp_max(x, s); });
      }
      case Prim::kPow: {
        if (scalar_left) {
          const double base = plan_.code[scalar].value;
          const V s(static_cast<T>(base));
          if (base == 1.0) return f([](const V&) { return V(T(1)); });
          return f([s](const V& x) { return s.pow(x); });
        }
        const double e = plan_.code[scalar].value;
        return f([e](const V& x) { return pow_scalar(x, e); });
      }
      default: NOS_CHECK(false, "instruction " << static_cast<int>(in.prim) << " is not / ^ max min");
    }
  }

  // A pointer to one of a select's sources in this block.
  const T* source_of(const KernelInstr& sel, int i, const Block<T>& blk) const {
    return sel.source_average[i] ? blk.averages[sel.source[i]] : ptr_[sel.source[i]];
  }

  // Calls f with a reader j → the select's value at j: a choice by σ between its three values.
  template <typename F>
  void with_select(int reg, const Block<T>& blk, F f) const {
    const KernelInstr& sel = plan_.code[reg];
    const Triple& c = triples_[reg];
    const V zero(T(0)), cn = c[0], cz = c[1], cp = c[2];
    const T* x = source_of(sel, 0, blk);
    if (sel.sources == 1) {
      return f([=](int64_t j) {
        const V s = V::loadu(x + j);
        return V::blendv(V::blendv(cz, cp, s > zero), cn, s < zero);
      });
    }
    const T* y = source_of(sel, 1, blk);
    // σ = sign(x)·sign(y) from comparisons alone: +1 where both are positive or both negative, −1 where they
    // differ, 0 where either is 0 or NaN.
    return f([=](int64_t j) {
      const V a = V::loadu(x + j), b = V::loadu(y + j);
      const V a_pos = a > zero, a_neg = a < zero, b_pos = b > zero, b_neg = b < zero;
      const V same = (a_pos & b_pos) | (a_neg & b_neg), differ = (a_pos & b_neg) | (a_neg & b_pos);
      return V::blendv(V::blendv(cz, cp, same), cn, differ);
    });
  }

  // Calls f with a reader of the operand described by `spec`: j → the operand's vector at j. The kind is chosen
  // once per block, outside the loop (each kind is its own instantiation of f).
  template <typename F>
  void with_fetch(const KernelInstr::Fetch& spec, const Block<T>& blk, F f) const {
    using Fetch = KernelInstr::Fetch;
    switch (spec.kind) {
      case Fetch::kPlain: {
        const T* p = ptr_[spec.source];
        return f([p](int64_t j) { return V::loadu(p + j); });
      }
      case Fetch::kNeg: {
        const T* p = ptr_[spec.source];
        return f([p](int64_t j) { return V::loadu(p + j).neg(); });
      }
      case Fetch::kScaledAverage: {
        // m̂ (or v̂, γ̂): the raw average times 1/(1 − β^t), when there is a correction.
        const T* p = blk.averages[spec.source];
        if (!corrected_[spec.source]) return f([p](int64_t j) { return V::loadu(p + j); });
        const V c = correction_[spec.source];
        return f([p, c](int64_t j) { return V::loadu(p + j) * c; });
      }
      case Fetch::kSelect1:
      case Fetch::kSelect2: return with_select(spec.source, blk, f);
      case Fetch::kPlusScalar:
      case Fetch::kTimesScalar:
      case Fetch::kScalarMinus:
      case Fetch::kMinusScalar: {
        const T* p = ptr_[spec.source];
        const V c(static_cast<T>(spec.k));
        if (spec.kind == Fetch::kPlusScalar) return f([p, c](int64_t j) { return V::loadu(p + j) + c; });
        if (spec.kind == Fetch::kTimesScalar) return f([p, c](int64_t j) { return V::loadu(p + j) * c; });
        if (spec.kind == Fetch::kScalarMinus) return f([p, c](int64_t j) { return c - V::loadu(p + j); });
        return f([p, c](int64_t j) { return V::loadu(p + j) - c; });
      }
      default: NOS_CHECK(false, "unknown operand fetch " << spec.kind);
    }
  }

  // A binary + − × with both operands tensors, each read through its fetch.
  template <typename Sink, typename Op>
  void binary_fetched(const KernelInstr& in, const Block<T>& blk, const Sink& out, Op op) const {
    with_fetch(in.fetch_a, blk, [&](auto fa) {
      with_fetch(in.fetch_b, blk, [&](auto fb) { each(out, [&](int64_t j) { return op(fa(j), fb(j)); }); });
    });
  }

  // Callers hoist the branch: `f` gets the corrected value of every vector of the block.
  template <typename Sink, typename F>
  void with_corrected(const Block<T>& blk, int average, const Sink& out, F f) const {
    const T* x = blk.averages[average];
    if (corrected_[average]) {
      const V c = correction_[average];
      each(out, [&](int64_t j) { return f(j, V::loadu(x + j) * c); });
    } else {
      each(out, [&](int64_t j) { return f(j, V::loadu(x + j)); });
    }
  }

  // adam, amsgrad, rmsprop and adagrad: m̂ / (√v̂ + ε), √v̂ as the reference computes it, sqrt(v) ·
  // (1/sqrt(correction)); amsgrad has vmax for v, rmsprop g for m̂, adagrad both g and s. Each combination of
  // corrections is its own loop (the branch hoisted out of it).
  template <typename Sink>
  void evaluate_adam(const KernelInstr& in, const T* g, const Block<T>& blk, const Sink& out) const {
    const V eps(static_cast<T>(in.param));
    const bool has_m = in.prim == Prim::kAdam || in.prim == Prim::kAMSGrad;
    const T* v = blk.averages[in.b];
    const T* m = has_m ? blk.averages[in.a] : g;
    const bool m_corrected = has_m && corrected_[in.a];
    const V cm = m_corrected ? correction_[in.a] : V(T(1));
    const V cv = sqrt_correction_[in.b];
    if (!m_corrected && !corrected_[in.b]) {
      each(out, [&](int64_t j) { return V::loadu(m + j) / (V::loadu(v + j).sqrt() + eps); });
    } else if (!corrected_[in.b]) {
      each(out, [&](int64_t j) { return V::loadu(m + j) * cm / (V::loadu(v + j).sqrt() + eps); });
    } else if (!m_corrected) {
      each(out, [&](int64_t j) { return V::loadu(m + j) / (V::loadu(v + j).sqrt() * cv + eps); });
    } else {
      each(out, [&](int64_t j) { return V::loadu(m + j) * cm / (V::loadu(v + j).sqrt() * cv + eps); });
    }
  }

  // nadam and radam with their per-step factors (KernelInstr::factors), each op as Program::direction's case:
  // nadam (g·f0 + m·f1)/(√(v/f2) + ε); radam m/f3, times reciprocal(√v + ε)·f2 and f1 once rectified (f0 = 1).
  template <typename Sink>
  void evaluate_schedule(const KernelInstr& in, const T* g, const Block<T>& blk, const Sink& out) const {
    const T* m = blk.averages[in.a];
    const T* v = blk.averages[in.b];
    const V eps(static_cast<T>(in.param));
    const V f0(static_cast<T>(in.factors[0])), f1(static_cast<T>(in.factors[1])), f2(static_cast<T>(in.factors[2])),
        f3(static_cast<T>(in.factors[3]));
    if (in.prim == Prim::kNAdam) {
      each(out, [&](int64_t j) {
        return (V::loadu(g + j) * f0 + V::loadu(m + j) * f1) / ((V::loadu(v + j) / f2).sqrt() + eps);
      });
    } else if (in.factors[0] == 0) {
      each(out, [&](int64_t j) { return V::loadu(m + j) / f3; });
    } else {
      each(out, [&](int64_t j) {
        return V::loadu(m + j) / f3 * ((V::loadu(v + j).sqrt() + eps).reciprocal() * f2) * f1;
      });
    }
  }

  // drop(x, p): x times the keep mask drawn before the pass.
  template <typename Sink>
  void evaluate_drop(const KernelInstr& in, const Block<T>& blk, const Sink& out) const {
    const T* keep = blk.random[in.random];
    if (is_scalar(in.a)) {
      const V x(scalar_of(in.a));
      each(out, [&](int64_t j) { return x * V::loadu(keep + j); });
    } else {
      const T* pa = ptr_[in.a];
      each(out, [&](int64_t j) { return V::loadu(pa + j) * V::loadu(keep + j); });
    }
  }

  // + − ×: operands through their fetches (an inlined neg, select or corrected average is computed as it is
  // read); with a scalar operand, the one-operand function over the tensor side's fetch.
  template <typename Sink>
  void evaluate_fetching(const KernelInstr& in, const Block<T>& blk, const Sink& out) const {
    if (is_scalar(in.a) != is_scalar(in.b)) {
      const KernelInstr::Fetch& side = is_scalar(in.a) ? in.fetch_b : in.fetch_a;
      with_scalar_arithmetic(in, [&](auto op) {
        with_fetch(side, blk, [&](auto fx) { each(out, [&](int64_t j) { return op(fx(j)); }); });
      });
    } else if (in.prim == Prim::kAdd) {
      binary_fetched(in, blk, out, [](const V& x, const V& y) { return x + y; });
    } else if (in.prim == Prim::kSub) {
      binary_fetched(in, blk, out, [](const V& x, const V& y) { return x - y; });
    } else {
      binary_fetched(in, blk, out, [](const V& x, const V& y) { return x * y; });
    }
  }

  // /, ^, max and min: with a scalar operand, the one-operand function over the tensor side.
  template <typename Sink>
  void evaluate_div_pow(const KernelInstr& in, const Block<T>& blk, const Sink& out) const {
    const T* pa = is_scalar(in.a) ? nullptr : ptr_[in.a];
    const T* pb = is_scalar(in.b) ? nullptr : ptr_[in.b];
    if (is_scalar(in.a) != is_scalar(in.b)) {
      const T* p = pa != nullptr ? pa : pb;
      with_scalar_function(in, [&](auto op) { each(out, [&](int64_t j) { return op(V::loadu(p + j)); }); });
    } else if (in.prim == Prim::kDiv) {
      const V eps(static_cast<T>(kDivEpsilon));
      each(out, [&](int64_t j) { return V::loadu(pa + j) / (V::loadu(pb + j) + eps); });
    } else if (in.prim == Prim::kMax) {
      each(out, [&](int64_t j) { return at::vec::maximum(V::loadu(pa + j), V::loadu(pb + j)); });
    } else if (in.prim == Prim::kMin) {
      each(out, [&](int64_t j) { return at::vec::minimum(V::loadu(pa + j), V::loadu(pb + j)); });
    } else {
      each(out, [&](int64_t j) { return V::loadu(pa + j).pow(V::loadu(pb + j)); });
    }
  }

  // One computing instruction over the block. Each case follows the torch op of Program::direction's same case.
  template <typename Sink>
  void evaluate(const KernelInstr& in, const T* g, const Block<T>& blk, const Sink& out) const {
    if (in.select == KernelInstr::kSelectExact) {
      // A function of σ: chosen from its three values (PowerSign's e^(sign(g)·sign(m)), AddSign's 1 + ·).
      const int reg = static_cast<int>(&in - plan_.code.data());
      with_select(reg, blk, [&](auto sel) { each(out, sel); });
      return;
    }
    switch (in.prim) {
      case Prim::kG2: each(out, [&](int64_t j) { const V x = V::loadu(g + j); return x * x; }); break;
      case Prim::kG3: each(out, [&](int64_t j) { const V x = V::loadu(g + j); return x * x * x; }); break;
      case Prim::kM:
      case Prim::kV:
      case Prim::kY:
      case Prim::kVMax:
      case Prim::kS:
      case Prim::kMP: with_corrected(blk, in.a, out, [](int64_t, const V& x) { return x; }); break;
      case Prim::kAdam:
      case Prim::kAMSGrad:
      case Prim::kRMSProp:
      case Prim::kAdaGrad: evaluate_adam(in, g, blk, out); break;
      case Prim::kNeg:
      case Prim::kExp:
      case Prim::kLog:
      case Prim::kSqrt:
      case Prim::kSign:
      case Prim::kAbs:
      case Prim::kClip: {
        const T* pa = ptr_[in.a];
        with_function(in, [&](auto op) { each(out, [&](int64_t j) { return op(V::loadu(pa + j)); }); });
        break;
      }
      case Prim::kDrop: evaluate_drop(in, blk, out); break;
      case Prim::kAdd:
      case Prim::kSub:
      case Prim::kMul: evaluate_fetching(in, blk, out); break;
      case Prim::kDiv:
      case Prim::kPow:
      case Prim::kMax:
      case Prim::kMin: evaluate_div_pow(in, blk, out); break;
      // Values that live in memory or are scalars never reach here: the planner made them aliases or folded them.
      case Prim::kG:
      case Prim::kNoise:
      case Prim::kANoise:
      case Prim::kW:
      case Prim::kLD:
      case Prim::kCD:
      case Prim::kRD:
      case Prim::kConst:
      case Prim::kIdentity:
      case Prim::kKeep:
      case Prim::kT:
      case Prim::kTotal:
        NOS_CHECK(false, "instruction " << static_cast<int>(in.prim) << " should have been folded or aliased");
        break;
      case Prim::kNAdam:
      case Prim::kRAdam: evaluate_schedule(in, g, blk, out); break;
      // Known from an earlier stage (Plan::stages): ‖x‖ for every element, or x times the ratio.
      case Prim::kNorm: {
        const V c(static_cast<T>(in.value));
        each(out, [c](int64_t) { return c; });
        break;
      }
      case Prim::kTrust: {
        const V ratio(static_cast<T>(in.value));
        if (is_scalar(in.a)) {
          const V x = V(scalar_of(in.a)) * ratio;
          each(out, [x](int64_t) { return x; });
        } else {
          const T* pa = ptr_[in.a];
          each(out, [pa, ratio](int64_t j) { return V::loadu(pa + j) * ratio; });
        }
        break;
      }
        // Do not add a default clause: every primitive must be handled here (-Werror=switch names a new one).
    }
  }

  const Plan& plan_;
  std::vector<bool> corrected_;
  std::vector<V> correction_, sqrt_correction_, beta_, rest_;
  bool has_previous_ = false;  // an mp average, updated after the rule
  std::vector<T> slots_;
  std::vector<T> gbuf_;
  std::vector<const T*> ptr_;
  std::vector<Triple> triples_;
  T* const* averages_ = nullptr;   // this block's moving averages
  const T* update_g_ = nullptr;    // the (decayed) gradient while the running pass also updates the averages
};

// Offsets every memory-backed pointer to the block starting at element `begin`.
template <typename T>
Block<T> block_at(const Plan& plan, int64_t begin) {
  Block<T> b;
  b.w = static_cast<T*>(plan.w) + begin;
  b.g_in = static_cast<const T*>(plan.g) + begin;
  for (void* a : plan.average_data) b.averages.push_back(static_cast<T*>(a) + begin);
  for (const void* r : plan.random_data) b.random.push_back(static_cast<const T*>(r) + begin);
  for (void* r : plan.reduction_data) b.reductions.push_back(static_cast<T*>(r) + begin);
  return b;
}

template <typename T>
void run_typed(const Plan& plan) {
  const int64_t full_blocks = plan.numel / kBlock;
  at::parallel_for(0, full_blocks, kGrainBlocks, [&](int64_t first, int64_t last) {
    BlockRunner<T> runner(plan);
    Block<T> blk = block_at<T>(plan, first * kBlock);
    for (int64_t b = first; b < last; ++b) {
      runner.run(blk);
      blk.w += kBlock;
      blk.g_in += kBlock;
      for (T*& a : blk.averages) a += kBlock;
      for (const T*& r : blk.random) r += kBlock;
      for (T*& r : blk.reductions) r += kBlock;
    }
  });
  // The last, partial block runs on copies padded to a whole block (zeros: any value the padding produces is
  // computed and dropped), and only its first `rest` elements are copied back.
  const int64_t begin = full_blocks * kBlock;
  const int64_t rest = plan.numel - begin;
  if (rest == 0) return;
  const size_t nbuf = 2 + plan.average_data.size() + plan.random_data.size() + plan.reduction_data.size();
  std::vector<T> staging(nbuf * kBlock, T(0));
  Block<T> src = block_at<T>(plan, begin);
  Block<T> tmp;
  T* next = staging.data();
  auto stage = [&](const T* from) {
    std::copy(from, from + rest, next);
    T* at = next;
    next += kBlock;
    return at;
  };
  tmp.w = stage(src.w);
  tmp.g_in = stage(src.g_in);
  for (T* a : src.averages) tmp.averages.push_back(stage(a));
  for (const T* r : src.random) tmp.random.push_back(stage(r));
  for (T* r : src.reductions) tmp.reductions.push_back(stage(r));
  BlockRunner<T>(plan).run(tmp);
  std::copy(tmp.w, tmp.w + rest, src.w);
  for (size_t i = 0; i < src.averages.size(); ++i) std::copy(tmp.averages[i], tmp.averages[i] + rest, src.averages[i]);
  for (size_t i = 0; i < src.reductions.size(); ++i) {
    std::copy(tmp.reductions[i], tmp.reductions[i] + rest, src.reductions[i]);
  }
}

}  // namespace

void run(const Plan& plan) {
  if (plan.numel == 0) return;
  if (plan.is_double) {
    run_typed<double>(plan);
  } else {
    run_typed<float>(plan);
  }
}

}  // namespace CPU_CAPABILITY
}  // namespace nos::dsl::cpu
