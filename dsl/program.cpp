// Compilation of a rule to a straight-line program, and its evaluation on tensors (the reference path).
#include "dsl/program.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "dsl/canonical.h"
#include "dsl/error.h"
#include "dsl/parse.h"

namespace nos::dsl {

// Bello et al. 2017, §3 (decay functions), with TensorFlow's sign_decay.py formulas: t is clipped to T.
double linear_decay(int64_t t, int64_t T) {
  NOS_CHECK(T > 0, "linear decay needs T > 0");
  double s = static_cast<double>(std::min(t, T));
  return std::max(0.0, (static_cast<double>(T) - s) / static_cast<double>(T));
}

double cosine_decay(int64_t t, int64_t T, double n) {
  NOS_CHECK(T > 0, "cosine decay needs T > 0");
  double s = static_cast<double>(std::min(t, T));
  return 0.5 * (1.0 + std::cos(M_PI * 2.0 * n * s / static_cast<double>(T)));
}

double restart_decay(int64_t t, int64_t T, double n) {
  NOS_CHECK(T > 0, "restart decay needs T > 0");
  double s = static_cast<double>(std::min(t, T));
  double fraction = std::fmod(n * s, static_cast<double>(T)) / static_cast<double>(T);
  return 0.5 * (1.0 + std::cos(M_PI * fraction));
}

bool folds_to_scalar(Prim prim, bool a_scalar, bool b_scalar) {
  switch (primitive(prim).role) {
    case Role::kOperand: return prim == Prim::kLD || prim == Prim::kCD || prim == Prim::kRD || prim == Prim::kConst;
    case Role::kUnary: return prim != Prim::kDrop && a_scalar;
    case Role::kBinary: return prim == Prim::kKeep ? a_scalar : a_scalar && b_scalar;
  }
  return false;
}

double fold_scalar(const Program::Instr& in, double a, double b, const StepContext& ctx) {
  switch (in.prim) {
    case Prim::kLD: return linear_decay(ctx.t, ctx.total_steps);
    case Prim::kCD: return cosine_decay(ctx.t, ctx.total_steps, in.param);
    case Prim::kRD: return restart_decay(ctx.t, ctx.total_steps, in.param);
    case Prim::kConst: return in.param;
    case Prim::kIdentity: return a;
    case Prim::kNeg: return -a;
    case Prim::kExp: return std::exp(a);
    case Prim::kLog: return std::log(std::fabs(a));
    case Prim::kSqrt: return std::sqrt(std::fabs(a));
    case Prim::kSign: return a > 0 ? 1.0 : a < 0 ? -1.0 : 0.0;
    case Prim::kClip: return std::clamp(a, -in.param, in.param);
    case Prim::kAdd: return a + b;
    case Prim::kSub: return a - b;
    case Prim::kMul: return a * b;
    case Prim::kDiv: return a / (b + kDivEpsilon);
    case Prim::kPow: return std::pow(a, b);
    case Prim::kKeep: return a;
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
  NOS_CHECK(false, "instruction " << primitive(in.prim).token << " does not fold to a scalar");
  return 0;
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

at::Tensor draw_random(const Program::Instr& in, const at::Tensor& like, const StepContext& ctx) {
  NOS_CHECK(ctx.generator != nullptr, "random instruction " << primitive(in.prim).token << " without a generator");
  if (in.prim == Prim::kNoise) {
    return at::randn(like.sizes(), *ctx.generator, like.options()).mul_(std::sqrt(kNoiseVariance));
  }
  if (in.prim == Prim::kANoise) {
    const double variance = std::pow(1.0 + static_cast<double>(ctx.t), -kANoiseExponent);
    return at::randn(like.sizes(), *ctx.generator, like.options()).mul_(std::sqrt(variance));
  }
  if (in.prim == Prim::kDrop) return at::empty_like(like).bernoulli_(1.0 - in.param, *ctx.generator);
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

int average_index(const std::vector<Average>& averages, Moment moment, double beta) {
  for (size_t i = 0; i < averages.size(); ++i) {
    if (averages[i].moment == moment && averages[i].beta == beta) return static_cast<int>(i);
  }
  NOS_CHECK(false, "moving average " << average_name({moment, beta}) << " was not allocated");
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
    const Primitive& p = primitive(n->prim);
    if (p.moment != Moment::kNone) in.a = average_index(averages_, p.moment, n->param);
    if (n->prim == Prim::kAdam) {
      in.a = average_index(averages_, Moment::kFirst, primitive(Prim::kM).param.default_value);
      in.b = average_index(averages_, Moment::kSecond, primitive(Prim::kV).param.default_value);
    }
    if (n->prim == Prim::kRMSProp) in.b = average_index(averages_, Moment::kSecond, primitive(Prim::kV).param.default_value);
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

at::Tensor Program::direction(const at::Tensor& w, const at::Tensor& g, std::vector<at::Tensor>& averages,
                              const StepContext& ctx) const {
  check_step(w, g, averages, ctx);

  // Moving averages first, with the current gradient (as Adam does): m ← βm + (1−β)g.
  const double step = static_cast<double>(ctx.t + 1);
  std::vector<double> correction(averages_.size(), 1.0);
  for (size_t i = 0; i < averages_.size(); ++i) {
    const Average& a = averages_[i];
    at::Tensor& buf = averages[i];
    buf.mul_(a.beta);
    switch (a.moment) {
      case Moment::kFirst: buf.add_(g, 1.0 - a.beta); break;
      case Moment::kSecond: buf.addcmul_(g, g, 1.0 - a.beta); break;
      case Moment::kThird: buf.add_(g * g * g, 1.0 - a.beta); break;
      case Moment::kNone: NOS_CHECK(false, "average without a moment"); break;
    }
    if (ctx.bias_correction) correction[i] = 1.0 - std::pow(a.beta, step);
  }
  // Bias correction multiplies by 1/(1 − β^t), computed once in double: a division per element costs several
  // multiplications' time, and the fused kernel does the same multiplication (within an ulp of dividing).
  auto corrected = [&](int i) { return correction[i] == 1.0 ? averages[i] : averages[i] * (1.0 / correction[i]); };
  auto sqrt_corrected = [&](int i) {
    return correction[i] == 1.0 ? averages[i].sqrt() : averages[i].sqrt() * (1.0 / std::sqrt(correction[i]));
  };

  // Scalars (decays, constants and what is computed from them alone) stay in double until they meet a tensor.
  const std::vector<bool> is_scalar = scalar_instructions(*this);
  const std::vector<double> values = scalar_values(*this, is_scalar, ctx);
  std::vector<Value> r(code_.size());
  for (size_t k = 0; k < code_.size(); ++k) {
    const Instr& in = code_[k];
    const Value* a = in.a >= 0 && reads_registers(in.prim) ? &r[in.a] : nullptr;
    const Value* b = in.b >= 0 && primitive(in.prim).role == Role::kBinary ? &r[in.b] : nullptr;
    Value& out = r[k];
    if (is_scalar[k]) {
      out = scalar(values[k]);
      continue;
    }
    switch (in.prim) {
      case Prim::kG: out = tensor(g); break;
      case Prim::kG2: out = tensor(g * g); break;
      case Prim::kG3: out = tensor(g * g * g); break;
      case Prim::kM:
      case Prim::kV:
      case Prim::kY: out = tensor(corrected(in.a)); break;
      case Prim::kNoise:
      case Prim::kANoise: out = tensor(draw_random(in, g, ctx)); break;
      case Prim::kW: out = tensor(w); break;
      case Prim::kAdam: out = tensor(corrected(in.a) / (sqrt_corrected(in.b) + kDivEpsilon)); break;
      case Prim::kRMSProp: out = tensor(g / (sqrt_corrected(in.b) + kDivEpsilon)); break;
      case Prim::kLD:
      case Prim::kCD:
      case Prim::kRD:
      case Prim::kConst: NOS_CHECK(false, "scalar operands are folded above"); break;
      case Prim::kIdentity: out = *a; break;
      case Prim::kNeg: out = tensor(-a->t); break;
      case Prim::kExp: out = tensor(a->t.exp()); break;
      case Prim::kLog: out = tensor(a->t.abs().log_()); break;
      case Prim::kSqrt: out = tensor(a->t.abs().sqrt_()); break;
      case Prim::kSign: out = tensor(a->t.sign()); break;
      case Prim::kClip: out = tensor(a->t.clamp(-in.param, in.param)); break;
      case Prim::kDrop: {
        at::Tensor x = as_tensor(*a, g);
        out = tensor(x * draw_random(in, x, ctx));
        break;
      }
      case Prim::kAdd:
        if (a->scalar()) out = tensor(b->t + a->s);
        else if (b->scalar()) out = tensor(a->t + b->s);
        else out = tensor(a->t + b->t);
        break;
      case Prim::kSub:
        if (a->scalar()) out = tensor(at::rsub(b->t, a->s));
        else if (b->scalar()) out = tensor(a->t - b->s);
        else out = tensor(a->t - b->t);
        break;
      case Prim::kMul:
        if (a->scalar()) out = tensor(b->t * a->s);
        else if (b->scalar()) out = tensor(a->t * b->s);
        else out = tensor(a->t * b->t);
        break;
      case Prim::kDiv:
        if (a->scalar()) out = tensor(at::reciprocal(b->t + kDivEpsilon).mul_(a->s));
        else if (b->scalar()) out = tensor(a->t / (b->s + kDivEpsilon));
        else out = tensor(a->t / (b->t + kDivEpsilon));
        break;
      case Prim::kPow:
        if (a->scalar()) out = tensor(at::pow(a->s, b->t));
        else if (b->scalar()) out = tensor(at::pow(a->t, b->s));
        else out = tensor(at::pow(a->t, b->t));
        break;
      case Prim::kKeep: out = *a; break;
    }
  }
  const Value& result = r.back();
  if (result.scalar()) return at::full_like(g, result.s);
  // A result that aliases an input (the rule "g" or "w") is copied, so callers may update w in place.
  if (result.t.is_same(g) || result.t.is_same(w)) return result.t.clone();
  for (const at::Tensor& buf : averages) {
    if (result.t.is_same(buf)) return result.t.clone();
  }
  return result.t;
}

}  // namespace nos::dsl
