// Compilation of a rule to a straight-line program, and its evaluation on tensors (the reference path).
#include "dsl/program.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "dsl/canonical.h"
#include "dsl/error.h"
#include "dsl/parse.h"

namespace nos::dsl {

bool folds_to_scalar(Prim prim, bool a_scalar, bool b_scalar) {
  const Primitive& p = primitive(prim);
  if (p.fold == nullptr) return false;
  switch (p.role) {
    case Role::kOperand: return true;
    case Role::kUnary: return a_scalar;
    case Role::kBinary: return prim == Prim::kKeep ? a_scalar : a_scalar && b_scalar;
  }
  return false;
}

double fold_scalar(const Program::Instr& in, double a, double b, const StepContext& ctx) {
  const Fold fold = primitive(in.prim).fold;
  NOS_CHECK(fold != nullptr, "instruction " << primitive(in.prim).token << " does not fold to a scalar");
  return fold({a, b, in.param, ctx.t, ctx.total_steps});
}

std::vector<bool> scalar_instructions(const Program& program) {
  const std::vector<Program::Instr>& code = program.code();
  std::vector<bool> scalar(code.size(), false);
  for (size_t k = 0; k < code.size(); ++k) {
    const Program::Instr& in = code[k];
    const bool regs = reads_registers(in.prim);
    scalar[k] = folds_to_scalar(in.prim, regs && in.a >= 0 && scalar[in.a], regs && in.b >= 0 && scalar[in.b]);
  }
  return scalar;
}

std::vector<double> scalar_values(const Program& program, const std::vector<bool>& scalar, const StepContext& ctx) {
  const std::vector<Program::Instr>& code = program.code();
  std::vector<double> value(code.size(), 0.0);
  for (size_t k = 0; k < code.size(); ++k) {
    if (!scalar[k]) continue;
    const Program::Instr& in = code[k];
    const bool regs = reads_registers(in.prim);
    value[k] = fold_scalar(in, regs && in.a >= 0 ? value[in.a] : 0.0, regs && in.b >= 0 ? value[in.b] : 0.0, ctx);
  }
  return value;
}

std::vector<BiasCorrection> bias_corrections(const Program& program, const StepContext& ctx) {
  std::vector<BiasCorrection> out;
  // mp is the raw average (s, with β 0, has no correction either).
  for (const Average& a : program.averages()) {
    out.push_back(bias_correction(a.beta, ctx.t + 1, ctx.bias_correction && a.moment != Moment::kPrev));
  }
  return out;
}

std::array<double, 4> step_factors(const Program::Instr& in, const StepContext& ctx) {
  const int64_t step = ctx.t + 1;
  const double beta1 = primitive(in.prim).reads[0].beta, beta2 = primitive(in.prim).reads[1].beta;
  if (in.prim == Prim::kNAdam) {
    const NAdamFactors f = nadam_factors(step, beta1);
    return {f.grad, f.momentum, 1.0 - std::pow(beta2, static_cast<double>(step)), 0.0};
  }
  NOS_CHECK(in.prim == Prim::kRAdam, "step factors of " << primitive(in.prim).token);
  const RAdamFactors f = radam_factors(step, beta2);
  return {f.rectified ? 1.0 : 0.0, f.rect, f.sqrt_correction, 1.0 - std::pow(beta1, static_cast<double>(step))};
}

at::Tensor draw_random(const Program::Instr& in, const at::Tensor& like, const StepContext& ctx) {
  NOS_CHECK(ctx.generator != nullptr, "random instruction " << primitive(in.prim).token << " without a generator");
  switch (in.prim) {
    case Prim::kNoise: return at::randn(like.sizes(), *ctx.generator, like.options()).mul_(std::sqrt(kNoiseVariance));
    case Prim::kANoise: {
      const double variance = std::pow(1.0 + static_cast<double>(ctx.t), -kANoiseExponent);
      return at::randn(like.sizes(), *ctx.generator, like.options()).mul_(std::sqrt(variance));
    }
    case Prim::kDrop: return at::empty_like(like).bernoulli_(1.0 - in.param, *ctx.generator);
    case Prim::kG:
    case Prim::kG2:
    case Prim::kG3:
    case Prim::kM:
    case Prim::kV:
    case Prim::kY:
    case Prim::kW:
    case Prim::kAdam:
    case Prim::kRMSProp:
    case Prim::kLD:
    case Prim::kCD:
    case Prim::kRD:
    case Prim::kConst:
    case Prim::kIdentity:
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
    case Prim::kKeep:
    case Prim::kAbs:
    case Prim::kMax:
    case Prim::kMin:
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
  NOS_CHECK(false, "instruction " << primitive(in.prim).token << " draws no random numbers");
  return {};
}

namespace {

// A register's value: a tensor, or a scalar (constants and decays) kept in double until it meets a tensor.
struct Value {
  at::Tensor t;
  double s = 0;
  bool scalar() const { return !t.defined(); }
};

Value scalar(double s) { return Value{at::Tensor(), s}; }
Value tensor(at::Tensor t) { return Value{std::move(t), 0}; }

at::Tensor as_tensor(const Value& v, const at::Tensor& like) {
  return v.scalar() ? at::full_like(like, v.s) : v.t;
}

int average_index(const std::vector<Average>& averages, const Average& wanted) {
  for (size_t i = 0; i < averages.size(); ++i) {
    if (averages[i] == wanted) return static_cast<int>(i);
  }
  NOS_CHECK(false, "moving average " << average_name(wanted) << " was not allocated");
  return -1;
}

class Lowering {
 public:
  Lowering(std::vector<Program::Instr>& code, const std::vector<Average>& averages)
      : code_(code), averages_(averages) {}

  int lower(const NodePtr& n) {
    const bool shareable = !is_random(*n);
    std::string key;
    if (shareable) {
      key = to_infix(*n);
      auto it = memo_.find(key);
      if (it != memo_.end()) return it->second;
    }
    Program::Instr in{n->prim, n->param, -1, -1};
    // An operand that reads moving averages holds their indices in a and b (Primitive::reads).
    int* sides[2] = {&in.a, &in.b};
    for (int i = 0; i < 2; ++i) {
      const AverageRead& read = primitive(n->prim).reads[i];
      if (read.moment != Moment::kNone) *sides[i] = average_index(averages_, average_read(read, n->param));
    }
    if (n->args.size() >= 1) in.a = lower(n->args[0]);
    if (n->args.size() == 2) in.b = lower(n->args[1]);
    code_.push_back(in);
    int index = static_cast<int>(code_.size()) - 1;
    if (shareable) memo_[key] = index;
    return index;
  }

 private:
  std::vector<Program::Instr>& code_;
  const std::vector<Average>& averages_;
  std::map<std::string, int> memo_;
};

}  // namespace

Program compile(const NodePtr& rule) {
  NodePtr canonical = canonicalize(rule);
  Program program;
  program.text_ = to_infix(*canonical);
  program.averages_ = required_averages(*canonical);
  program.uses_decay_ = uses_decay(*canonical);
  program.random_ = is_random(*canonical);
  program.has_reduction_ = has_reduction(*canonical);
  Lowering(program.code_, program.averages_).lower(canonical);
  return program;
}

std::vector<at::Tensor> Program::zero_averages(const at::Tensor& like) const {
  std::vector<at::Tensor> out;
  out.reserve(averages_.size());
  for (size_t i = 0; i < averages_.size(); ++i) out.push_back(at::zeros_like(like, at::MemoryFormat::Preserve));
  return out;
}

void Program::check_step(const at::Tensor& w, const at::Tensor& g, const std::vector<at::Tensor>& averages,
                         const StepContext& ctx) const {
  NOS_CHECK(averages.size() == averages_.size(),
            "rule '" << text_ << "' keeps " << averages_.size() << " moving averages, got " << averages.size());
  NOS_CHECK(w.sizes() == g.sizes(), "parameter and gradient shapes differ");
  if (uses_decay_) NOS_CHECK(ctx.total_steps > 0, "rule '" << text_ << "' uses a decay but T is not set");
  if (random_) NOS_CHECK(ctx.generator != nullptr, "rule '" << text_ << "' is random but has no generator");
}

namespace {

// The moving averages first, with the current gradient (as Adam does): m ← βm + (1−β)g, v with g², y with g³,
// vmax ← max(vmax, v) after v (sorted before it), s ← s + g²; mp waits for update_previous.
void update_averages(const std::vector<Average>& kinds, std::vector<at::Tensor>& averages, const at::Tensor& g) {
  for (size_t i = 0; i < kinds.size(); ++i) {
    const Average& a = kinds[i];
    at::Tensor& buf = averages[i];
    switch (a.moment) {
      case Moment::kFirst: buf.mul_(a.beta).add_(g, 1.0 - a.beta); break;
      case Moment::kSecond: buf.mul_(a.beta).addcmul_(g, g, 1.0 - a.beta); break;
      case Moment::kThird: buf.mul_(a.beta).add_(g * g * g, 1.0 - a.beta); break;
      // torch.optim.Adam(amsgrad=True): torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq).
      case Moment::kMaxSecond: at::maximum_out(buf, buf, averages[partner_average(kinds, i)]); break;
      // torch.optim.Adagrad: state_sum.addcmul_(grad, grad, value=1).
      case Moment::kSum: buf.addcmul_(g, g, 1.0); break;
      case Moment::kPrev: break;
      case Moment::kNone: NOS_CHECK(false, "average without a moment"); break;
    }
  }
}

// mp's buffers after the rule has read them (Lion: c from the previous m, then m ← β2·m + (1−β2)·g).
void update_previous(const std::vector<Average>& kinds, std::vector<at::Tensor>& averages, const at::Tensor& g) {
  for (size_t i = 0; i < kinds.size(); ++i) {
    if (kinds[i].moment == Moment::kPrev) averages[i].mul_(kinds[i].beta).add_(g, 1.0 - kinds[i].beta);
  }
}

// One instruction of the reference path as torch ops, on the step's tensors. The other paths follow each case.
class Evaluator {
 public:
  Evaluator(const at::Tensor& w, const at::Tensor& g, std::vector<at::Tensor>& averages,
            std::vector<BiasCorrection> corrections, const StepContext& ctx)
      : w_(w), g_(g), averages_(averages), corrections_(std::move(corrections)), ctx_(ctx) {}

  // The value of `in` (not a scalar instruction) from its operands' values a and b (null where it has none).
  Value operator()(const Program::Instr& in, const Value* a, const Value* b) const {
    switch (in.prim) {
      case Prim::kG: return tensor(g_);
      case Prim::kG2: return tensor(g_ * g_);
      case Prim::kG3: return tensor(g_ * g_ * g_);
      case Prim::kM:
      case Prim::kV:
      case Prim::kY: return tensor(corrected(in.a));
      case Prim::kNoise:
      case Prim::kANoise: return tensor(draw_random(in, g_, ctx_));
      case Prim::kW: return tensor(w_);
      case Prim::kAdam:
      case Prim::kAMSGrad: return tensor(corrected(in.a) / (sqrt_corrected(in.b) + in.param));
      case Prim::kRMSProp:
      case Prim::kAdaGrad: return tensor(g_ / (sqrt_corrected(in.b) + in.param));
      case Prim::kVMax:
      case Prim::kS:
      case Prim::kMP: return tensor(corrected(in.a));
      case Prim::kNAdam: {
        // torch/optim/nadam.py: denom = exp_avg_sq.div(bias_correction2).sqrt().add_(eps), always bias-corrected.
        const std::array<double, 4> f = step_factors(in, ctx_);
        const at::Tensor denom = averages_[in.b].div(f[2]).sqrt_().add_(in.param);
        return tensor((g_ * f[0] + averages_[in.a] * f[1]) / denom);
      }
      case Prim::kRAdam: {
        // torch/optim/radam.py, always bias-corrected: m̂ · √(1 − β2^t)/(√v + ε) · r once rectified, else m̂.
        const std::array<double, 4> f = step_factors(in, ctx_);
        const at::Tensor m_hat = averages_[in.a] / f[3];
        if (f[0] == 0) return tensor(m_hat);
        return tensor(m_hat * at::reciprocal(averages_[in.b].sqrt().add_(in.param)).mul_(f[2]) * f[1]);
      }
      case Prim::kT:
      case Prim::kTotal:
      case Prim::kLD:
      case Prim::kCD:
      case Prim::kRD:
      case Prim::kConst: NOS_CHECK(false, "scalar operands are folded before evaluation"); return {};
      case Prim::kIdentity: return *a;
      case Prim::kNeg: return tensor(-a->t);
      case Prim::kExp: return tensor(a->t.exp());
      case Prim::kLog: return tensor(a->t.abs().log_());
      case Prim::kSqrt: return tensor(a->t.abs().sqrt_());
      case Prim::kSign: return tensor(a->t.sign());
      case Prim::kClip: return tensor(a->t.clamp(-in.param, in.param));
      case Prim::kDrop: {
        at::Tensor x = as_tensor(*a, g_);
        return tensor(x * draw_random(in, x, ctx_));
      }
      // A scalar operand stays in double on its side, as a wrapped number ATen casts to the tensor's dtype.
      case Prim::kAdd:
        if (a->scalar()) return tensor(b->t + a->s);
        return tensor(b->scalar() ? a->t + b->s : a->t + b->t);
      case Prim::kSub:
        if (a->scalar()) return tensor(at::rsub(b->t, a->s));
        return tensor(b->scalar() ? a->t - b->s : a->t - b->t);
      case Prim::kMul:
        if (a->scalar()) return tensor(b->t * a->s);
        return tensor(b->scalar() ? a->t * b->s : a->t * b->t);
      case Prim::kDiv:
        if (a->scalar()) return tensor(at::reciprocal(b->t + kDivEpsilon).mul_(a->s));
        return tensor(b->scalar() ? a->t / (b->s + kDivEpsilon) : a->t / (b->t + kDivEpsilon));
      case Prim::kPow:
        if (a->scalar()) return tensor(at::pow(a->s, b->t));
        return tensor(b->scalar() ? at::pow(a->t, b->s) : at::pow(a->t, b->t));
      case Prim::kKeep: return *a;
      case Prim::kAbs: return tensor(a->t.abs());
      // The reductions, over this tensor (a whole parameter or one slice of a stacked one), as g-shaped tensors.
      case Prim::kNorm: {
        const at::Tensor x = as_tensor(*a, g_);
        return tensor(x.norm().expand_as(g_).contiguous());
      }
      case Prim::kTrust: {
        const at::Tensor x = as_tensor(*a, g_);
        const at::Tensor nw = w_.norm(), nx = x.norm();
        return tensor(x * at::where(nw.gt(0).logical_and(nx.gt(0)), nw / nx, at::ones_like(nw)));
      }
      // A scalar side clamps (ATen's clamp keeps NaN, as maximum and minimum do).
      case Prim::kMax:
        if (a->scalar()) return tensor(at::clamp_min(b->t, a->s));
        return tensor(b->scalar() ? at::clamp_min(a->t, b->s) : at::maximum(a->t, b->t));
      case Prim::kMin:
        if (a->scalar()) return tensor(at::clamp_max(b->t, a->s));
        return tensor(b->scalar() ? at::clamp_max(a->t, b->s) : at::minimum(a->t, b->t));
        // Do not add a default clause: every primitive must be handled here (-Werror=switch names a new one).
    }
    NOS_CHECK(false, "unknown primitive " << static_cast<int>(in.prim));
    return {};
  }

 private:
  // m̂ = m · 1/(1 − β^t) and √v̂ = √v · 1/√(1 − β^t) (bias_correction), the raw average where none applies.
  at::Tensor corrected(int i) const {
    return corrections_[i].applies() ? averages_[i] * corrections_[i].scale : averages_[i];
  }
  at::Tensor sqrt_corrected(int i) const {
    return corrections_[i].applies() ? averages_[i].sqrt() * corrections_[i].sqrt_scale : averages_[i].sqrt();
  }

  const at::Tensor& w_;
  const at::Tensor& g_;
  std::vector<at::Tensor>& averages_;
  const std::vector<BiasCorrection> corrections_;
  const StepContext& ctx_;
};

}  // namespace

at::Tensor Program::direction(const at::Tensor& w, const at::Tensor& g, std::vector<at::Tensor>& averages,
                              const StepContext& ctx) const {
  check_step(w, g, averages, ctx);
  update_averages(averages_, averages, g);
  const Evaluator evaluate(w, g, averages, bias_corrections(*this, ctx), ctx);
  // Scalars (decays, constants and what is computed from them alone) stay in double until they meet a tensor.
  const std::vector<bool> is_scalar = scalar_instructions(*this);
  const std::vector<double> values = scalar_values(*this, is_scalar, ctx);
  std::vector<Value> r(code_.size());
  for (size_t k = 0; k < code_.size(); ++k) {
    const Instr& in = code_[k];
    const Value* a = in.a >= 0 && reads_registers(in.prim) ? &r[in.a] : nullptr;
    const Value* b = in.b >= 0 && primitive(in.prim).role == Role::kBinary ? &r[in.b] : nullptr;
    r[k] = is_scalar[k] ? scalar(values[k]) : evaluate(in, a, b);
  }
  const Value& result = r.back();
  at::Tensor out;
  if (result.scalar()) {
    out = at::full_like(g, result.s);
  } else {
    // A result that aliases an input (the rule "g" or "w") or a buffer is copied, so callers may update w in place
    // and mp's update below does not change it.
    bool aliases = result.t.is_same(g) || result.t.is_same(w);
    for (const at::Tensor& buf : averages) aliases = aliases || result.t.is_same(buf);
    out = aliases ? result.t.clone() : result.t;
  }
  update_previous(averages_, averages, g);
  return out;
}

}  // namespace nos::dsl
