// Internal to the fused CPU kernel (cpu_kernel.cpp, compiled once per CPU capability): the pointers of one block and
// BlockRunner, which evaluates a plan over a block: its passes, the moving averages, the update of w. Its elementwise
// functions, operand reads and instruction cases are defined in cpu_block_functions.h, cpu_block_operands.h and
// cpu_block_evaluate.h.
#pragma once

#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "dsl/cpu_plan.h"
#include "dsl/error.h"

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

  // The elementwise functions of an instruction with one tensor operand (cpu_block_functions.h).
  template <typename F>
  void with_unary(const KernelInstr& in, F f) const;
  template <typename F>
  void with_function(const KernelInstr& in, F f) const;
  template <typename F>
  void with_scalar_arithmetic(const KernelInstr& in, F f) const;
  template <typename F>
  void with_scalar_function(const KernelInstr& in, F f) const;

  // Reading operands: selects, fetches and corrected averages (cpu_block_operands.h).
  const T* source_of(const KernelInstr& sel, int i, const Block<T>& blk) const;
  template <typename F>
  void with_select(int reg, const Block<T>& blk, F f) const;
  template <typename F>
  void with_fetch(const KernelInstr::Fetch& spec, const Block<T>& blk, F f) const;
  template <typename Sink, typename Op>
  void binary_fetched(const KernelInstr& in, const Block<T>& blk, const Sink& out, Op op) const;
  template <typename Sink, typename F>
  void with_corrected(const Block<T>& blk, int average, const Sink& out, F f) const;

  // Evaluating one instruction over the block (cpu_block_evaluate.h).
  template <typename Sink>
  void evaluate_adam(const KernelInstr& in, const T* g, const Block<T>& blk, const Sink& out) const;
  template <typename Sink>
  void evaluate_schedule(const KernelInstr& in, const T* g, const Block<T>& blk, const Sink& out) const;
  template <typename Sink>
  void evaluate_drop(const KernelInstr& in, const Block<T>& blk, const Sink& out) const;
  template <typename Sink>
  void evaluate_fetching(const KernelInstr& in, const Block<T>& blk, const Sink& out) const;
  template <typename Sink>
  void evaluate_div_pow(const KernelInstr& in, const Block<T>& blk, const Sink& out) const;
  template <typename Sink>
  void evaluate(const KernelInstr& in, const T* g, const Block<T>& blk, const Sink& out) const;

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

}  // namespace

}  // namespace CPU_CAPABILITY
}  // namespace nos::dsl::cpu
