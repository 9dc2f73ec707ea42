// `nos export --to pytorch`: a compiled rule as a Python module with a torch.optim.Optimizer subclass.
#include "optimizers/export.h"

#include <cmath>
#include <sstream>
#include <vector>

#include "common/error.h"
#include "dsl/primitives.h"
#include "dsl/program.h"
#include "optimizers/export_common.h"

namespace nos::optimizers {

using dsl::Prim;
using Instr = dsl::Program::Instr;
using exporting::exportable_program;
using exporting::instruction_comment;
using exporting::program_hash;
using exporting::quoted;

namespace {

// A double as a Python literal (math.inf and math.nan for the non-finite).
std::string py_number(double x) {
  if (std::isnan(x)) return "math.nan";
  if (std::isinf(x)) return x > 0 ? "math.inf" : "-math.inf";
  return exporting::digits(x);
}

// Instruction k as a Python expression on plain floats (a scalar instruction: dsl::folds_to_scalar), in the same
// arithmetic as its Primitive::fold.
std::string python_fold(const Instr& in, const std::string& x, const std::string& y) {
  switch (in.prim) {
    case Prim::kConst: return py_number(in.param);
    case Prim::kLD: return "_linear_decay(t, T)";
    case Prim::kCD: return "_cosine_decay(t, T, " + py_number(in.param) + ")";
    case Prim::kRD: return "_restart_decay(t, T, " + py_number(in.param) + ")";
    case Prim::kT: return "float(step)";
    case Prim::kTotal: return "float(T)";
    case Prim::kIdentity:
    case Prim::kKeep: return x;
    case Prim::kNeg: return "-" + x;
    case Prim::kExp: return "_exp(" + x + ")";
    case Prim::kLog: return "_log(" + x + ")";
    case Prim::kSqrt: return "math.sqrt(abs(" + x + "))";
    case Prim::kSign: return "_sign(" + x + ")";
    case Prim::kClip: return "_clip(" + x + ", " + py_number(in.param) + ")";
    case Prim::kAbs: return "abs(" + x + ")";
    case Prim::kAdd: return x + " + " + y;
    case Prim::kSub: return x + " - " + y;
    case Prim::kMul: return x + " * " + y;
    case Prim::kDiv: return "_div(" + x + ", " + y + ")";
    case Prim::kPow: return "_pow(" + x + ", " + y + ")";
    case Prim::kMax: return "_max(" + x + ", " + y + ")";
    case Prim::kMin: return "_min(" + x + ", " + y + ")";
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
    case Prim::kVMax:
    case Prim::kS:
    case Prim::kMP:
    case Prim::kAMSGrad:
    case Prim::kAdaGrad:
    case Prim::kNAdam:
    case Prim::kRAdam:
    case Prim::kDrop:
    case Prim::kNorm:
    case Prim::kTrust:
      break;
      // Do not add a default clause: every primitive must be handled here (-Werror=switch names a new one).
  }
  NOS_CHECK(false, "instruction " << dsl::primitive(in.prim).token << " does not fold to a scalar");
  return "";
}

// Where an instruction's operands live in the generated code.
struct Operands {
  std::string x, y;           // registers r<a>, r<b> (functions)
  bool a_scalar = false, b_scalar = false;
  std::string avg_a, avg_b;   // buffers a<i> (operands reading averages)
  std::string factors;        // f<k>: nadam's and radam's step factors
};

// Instruction k (not a scalar one) as a Python expression: the torch operation Program::direction runs for it.
// Bias corrections always multiply (by 1.0 where none applies: exact, and a fresh tensor, so a result never aliases
// a buffer that mp's update changes after the rule).
std::string python_tensor(const Instr& in, const Operands& o) {
  const std::string eps = py_number(in.param);
  const std::string& x = o.x;
  const std::string& y = o.y;
  const std::string ia = std::to_string(in.a), ib = std::to_string(in.b);
  switch (in.prim) {
    case Prim::kG: return "g";
    case Prim::kG2: return "g * g";
    case Prim::kG3: return "g * g * g";
    case Prim::kM:
    case Prim::kV:
    case Prim::kY:
    case Prim::kVMax:
    case Prim::kS:
    case Prim::kMP: return "a" + ia + " * s" + ia;
    case Prim::kNoise:
      return "torch.randn(g.size(), generator=gen, dtype=g.dtype, device=g.device).mul_(math.sqrt(" +
             py_number(dsl::kNoiseVariance) + "))";
    case Prim::kANoise:
      return "torch.randn(g.size(), generator=gen, dtype=g.dtype, device=g.device).mul_(math.sqrt(math.pow(1.0 + t, " +
             py_number(-dsl::kANoiseExponent) + ")))";
    case Prim::kW: return "w";
    case Prim::kAdam:
    case Prim::kAMSGrad: return "a" + ia + " * s" + ia + " / (a" + ib + ".sqrt() * q" + ib + " + " + eps + ")";
    case Prim::kRMSProp:
    case Prim::kAdaGrad: return "g / (a" + ib + ".sqrt() * q" + ib + " + " + eps + ")";
    case Prim::kNAdam: {
      // Always on the raw averages (torch/optim/nadam.py), whatever bias_correction says.
      const std::string& f = o.factors;
      return "(g * " + f + "[0] + a" + ia + " * " + f + "[1]) / a" + ib + ".div(" + f + "[2]).sqrt_().add_(" + eps +
             ")";
    }
    case Prim::kRAdam: {
      const std::string& f = o.factors;
      const std::string m_hat = "a" + ia + " / " + f + "[3]";
      return m_hat + " * torch.reciprocal(a" + ib + ".sqrt().add_(" + eps + ")).mul_(" + f + "[2]) * " + f + "[1] if " +
             f + "[0] != 0.0 else " + m_hat;
    }
    case Prim::kIdentity:
    case Prim::kKeep: return x;
    case Prim::kNeg: return "-" + x;
    case Prim::kExp: return x + ".exp()";
    case Prim::kLog: return x + ".abs().log_()";
    case Prim::kSqrt: return x + ".abs().sqrt_()";
    case Prim::kSign: return x + ".sign()";
    case Prim::kClip: return x + ".clamp(" + py_number(-in.param) + ", " + py_number(in.param) + ")";
    case Prim::kAbs: return x + ".abs()";
    case Prim::kDrop: {
      const std::string keep = "bernoulli_(" + py_number(1.0 - in.param) + ", generator=gen)";
      if (o.a_scalar) return "torch.full_like(g, " + x + ") * torch.empty_like(g)." + keep;
      return x + " * torch.empty_like(" + x + ")." + keep;
    }
    case Prim::kNorm: return (o.a_scalar ? "torch.full_like(g, " + x + ")" : x) + ".norm().expand_as(g).contiguous()";
    case Prim::kTrust: return "_trust(" + (o.a_scalar ? "torch.full_like(g, " + x + ")" : x) + ", w)";
    // A scalar operand stays a Python float on the side where Program::direction keeps it.
    case Prim::kAdd: return o.a_scalar ? y + " + " + x : x + " + " + y;
    case Prim::kSub: return o.a_scalar ? "torch.rsub(" + y + ", " + x + ")" : x + " - " + y;
    case Prim::kMul: return o.a_scalar ? y + " * " + x : x + " * " + y;
    case Prim::kDiv:
      if (o.a_scalar) return "torch.reciprocal(" + y + " + 1e-08).mul_(" + x + ")";
      return x + " / (" + y + " + 1e-08)";
    case Prim::kPow: return "torch.pow(" + x + ", " + y + ")";
    case Prim::kMax:
      if (o.a_scalar) return "torch.clamp_min(" + y + ", " + x + ")";
      return o.b_scalar ? "torch.clamp_min(" + x + ", " + y + ")" : "torch.maximum(" + x + ", " + y + ")";
    case Prim::kMin:
      if (o.a_scalar) return "torch.clamp_max(" + y + ", " + x + ")";
      return o.b_scalar ? "torch.clamp_max(" + x + ", " + y + ")" : "torch.minimum(" + x + ", " + y + ")";
    case Prim::kT:
    case Prim::kTotal:
    case Prim::kLD:
    case Prim::kCD:
    case Prim::kRD:
    case Prim::kConst:
      break;
      // Do not add a default clause: every primitive must be handled here (-Werror=switch names a new one).
  }
  NOS_CHECK(false, "scalar instruction " << dsl::primitive(in.prim).token << " reached the tensor writer");
  return "";
}

// The statements updating the moving averages with g before the rule (Program::direction's update_averages, op for
// op), and the bias corrections s<i>, q<i> each reads.
void python_averages(std::ostringstream& out, const dsl::Program& program) {
  const std::vector<dsl::Average>& averages = program.averages();
  for (size_t i = 0; i < averages.size(); ++i) {
    const dsl::Average& a = averages[i];
    const std::string buf = "a" + std::to_string(i), beta = py_number(a.beta), alpha = py_number(1.0 - a.beta);
    out << "        " << buf << " = state[" << quoted(dsl::average_name(a)) << "]\n";
    switch (a.moment) {
      case dsl::Moment::kFirst:
        out << "        " << buf << ".mul_(" << beta << ").add_(g, alpha=" << alpha << ")\n";
        break;
      case dsl::Moment::kSecond:
        out << "        " << buf << ".mul_(" << beta << ").addcmul_(g, g, value=" << alpha << ")\n";
        break;
      case dsl::Moment::kThird:
        out << "        " << buf << ".mul_(" << beta << ").add_(g * g * g, alpha=" << alpha << ")\n";
        break;
      case dsl::Moment::kMaxSecond:
        out << "        torch.maximum(" << buf << ", a" << dsl::partner_average(averages, i) << ", out=" << buf
            << ")\n";
        break;
      case dsl::Moment::kSum: out << "        " << buf << ".addcmul_(g, g, value=1.0)\n"; break;
      case dsl::Moment::kPrev: break;  // read as it is; updated after the rule
      case dsl::Moment::kNone: NOS_CHECK(false, "average without a moment"); break;
    }
    const bool corrected = a.moment != dsl::Moment::kPrev;
    out << "        s" << i << ", q" << i << " = _bias_correction(" << beta << ", step, "
        << (corrected ? "group[\"bias_correction\"]" : "False") << ")\n";
  }
}

// The body of _update: the steps around the rule (update_math.h), the averages, one statement per instruction, mp.
std::string python_update(const dsl::Program& program) {
  std::ostringstream out;
  const std::vector<Instr>& code = program.code();
  const std::vector<bool> scalar = dsl::scalar_instructions(program);
  out << "        lr = group[\"lr\"]\n"
      << "        t = state[\"step\"]  # updates already applied to w (0 at the first)\n"
      << "        step = t + 1\n"
      << "        T = group[\"total_steps\"]\n"
      << "        # AdamW's order: the weights shrink first, then the rule's step from the same gradient.\n"
      << "        if group[\"decoupled_weight_decay\"] > 0:\n"
      << "            w.mul_(1.0 - lr * group[\"decoupled_weight_decay\"])\n"
      << "        g = grad.add(w, alpha=group[\"weight_decay\"]) if group[\"weight_decay\"] != 0 else grad\n";
  python_averages(out, program);
  if (program.is_random()) out << "        gen = self._generator(w.device, group[\"seed\"])\n";
  for (size_t k = 0; k < code.size(); ++k) {
    if (dsl::has_step_factors(code[k].prim)) {
      out << "        f" << k << " = _" << (code[k].prim == Prim::kNAdam ? "nadam" : "radam") << "_factors(step, "
          << py_number(dsl::primitive(code[k].prim).reads[0].beta) << ", "
          << py_number(dsl::primitive(code[k].prim).reads[1].beta) << ")\n";
    }
  }
  out << "        # The rule, one statement per instruction of the compiled program (r<k> holds instruction k).\n";
  for (size_t k = 0; k < code.size(); ++k) {
    const Instr& in = code[k];
    const bool regs = dsl::reads_registers(in.prim);
    Operands o;
    if (regs && in.a >= 0) {
      o.x = "r" + std::to_string(in.a);
      o.a_scalar = scalar[in.a];
    }
    if (regs && in.b >= 0) {
      o.y = "r" + std::to_string(in.b);
      o.b_scalar = scalar[in.b];
    }
    o.factors = "f" + std::to_string(k);
    const std::string expression = scalar[k] ? python_fold(in, o.x, o.y) : python_tensor(in, o);
    out << "        r" << k << " = " << expression << "  # [" << k << "] " << instruction_comment(in) << "\n";
  }
  const size_t last = code.size() - 1;
  const std::string result = "r" + std::to_string(last);
  out << "        d = " << (scalar[last] ? "torch.full_like(g, " + result + ")" : result)
      << "\n";
  out << "        if d is w:\n            d = d.clone()\n";
  const std::vector<dsl::Average>& averages = program.averages();
  for (size_t i = 0; i < averages.size(); ++i) {
    if (averages[i].moment != dsl::Moment::kPrev) continue;
    out << "        a" << i << ".mul_(" << py_number(averages[i].beta) << ").add_(g, alpha="
        << py_number(1.0 - averages[i].beta) << ")  # mp, after the rule reads it\n";
  }
  out << "        w.add_(d, alpha=-lr)\n";
  return out.str();
}

std::string python_class(const ResolvedRule& rule, const dsl::Program& program, const std::string& name,
                         const std::string& hash) {
  const RuleOptions& d = rule.defaults;
  std::string averages;
  for (const dsl::Average& a : program.averages()) averages += quoted(dsl::average_name(a)) + ", ";
  std::ostringstream out;
  out << "\n\nclass " << name << "(torch.optim.Optimizer):\n"
      << "    \"\"\"The rule " << program.canonical_text() << " (hash " << hash << ").\n\n"
      << "    Options of each parameter group, as nos's RuleOptions:\n"
      << "      lr: w <- w - lr * direction (default " << py_number(d.lr()) << ")\n"
      << "      weight_decay: coupled L2, g <- g + weight_decay * w before the rule sees g (default "
      << py_number(d.weight_decay()) << ")\n"
      << "      decoupled_weight_decay: AdamW's w <- w * (1 - lr * decoupled_weight_decay) before the step (default "
      << py_number(d.decoupled_weight_decay()) << ")\n"
      << "      total_steps: T, the run's number of steps, read by ld, cd, rd and T ("
      << (program.uses_decay() ? "this rule needs it > 0" : "this rule reads none") << ")\n"
      << "      seed: the seed of the torch.Generator behind noise, anoise and drop ("
      << (program.is_random() ? "this rule draws" : "this rule draws nothing") << ")\n"
      << "      bias_correction: divide m, v, y, vmax by 1 - beta^t (default "
      << (d.bias_correction() ? "True" : "False")
      << "); False: the raw averages\n"
      << "    \"\"\"\n\n"
      << "    RULE = RULE\n    RULE_HASH = RULE_HASH\n"
      << "    AVERAGES = (" << averages << ")\n"
      << "    USES_DECAY = " << (program.uses_decay() ? "True" : "False") << "\n"
      << "    RANDOM = " << (program.is_random() ? "True" : "False") << "\n\n"
      << "    def __init__(self, params, lr=" << py_number(d.lr()) << ", weight_decay=" << py_number(d.weight_decay())
      << ", decoupled_weight_decay=" << py_number(d.decoupled_weight_decay()) << ",\n"
      << "                 total_steps=0, seed=0, bias_correction=" << (d.bias_correction() ? "True" : "False")
      << "):\n"
      << "        defaults = dict(lr=lr, weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay,\n"
      << "                        total_steps=total_steps, seed=seed, bias_correction=bias_correction)\n"
      << "        self._check(defaults)\n"
      << "        self._generators = {}\n"
      << "        super().__init__(params, defaults)\n\n"
      << "    def _check(self, group):\n"
      << "        for key in (\"lr\", \"weight_decay\", \"decoupled_weight_decay\"):\n"
      << "            if not (math.isfinite(group[key]) and group[key] >= 0):\n"
      << "                raise ValueError(f\"{type(self).__name__}: {key} must be a finite number >= 0, \"\n"
      << "                                 f\"got {group[key]}\")\n"
      << "        if group[\"total_steps\"] < 0 or (self.USES_DECAY and group[\"total_steps\"] <= 0):\n"
      << "            raise ValueError(f\"{type(self).__name__}: rule {self.RULE} \" + "
      << "(\"uses a decay (ld/cd/rd/T), so \" if "
         "self.USES_DECAY else \"\") + f\"total_steps must be set > 0, got {group['total_steps']}\")\n\n"
      << "    @torch.no_grad()\n"
      << "    def step(self, closure=None):\n"
      << "        \"\"\"One update of every parameter that has a gradient; returns the closure's loss when given "
      << "one.\"\"\"\n"
      << "        loss = None\n"
      << "        if closure is not None:\n"
      << "            with torch.enable_grad():\n"
      << "                loss = closure()\n"
      << "        for group in self.param_groups:\n"
      << "            self._check(group)\n"
      << "            for w in group[\"params\"]:\n"
      << "                if w.grad is None:\n"
      << "                    continue\n"
      << "                if w.grad.is_sparse:\n"
      << "                    raise RuntimeError(f\"{type(self).__name__} does not support sparse gradients\")\n"
      << "                state = self.state[w]\n"
      << "                if len(state) == 0:\n"
      << "                    state[\"step\"] = 0\n"
      << "                    for name in self.AVERAGES:\n"
      << "                        state[name] = torch.zeros_like(w, memory_format=torch.preserve_format)\n"
      << "                self._update(w, w.grad, state, group)\n"
      << "                state[\"step\"] += 1\n"
      << "        return loss\n\n"
      << "    def _update(self, w, grad, state, group):\n"
      << "        \"\"\"One update of the parameter w from its gradient, as nos's reference path computes it.\"\"\"\n"
      << python_update(program);
  if (program.is_random()) out << exporting::kPythonGenerators;
  return out.str();
}

}  // namespace

std::string export_pytorch(const ResolvedRule& rule, const std::string& class_name) {
  const dsl::Program& program = exportable_program(rule);
  const std::string hash = program_hash(program);
  std::string state;
  for (const dsl::Average& a : program.averages()) state += (state.empty() ? "" : ", ") + dsl::average_name(a);
  std::ostringstream out;
  out << "\"\"\"" << class_name << ": the optimizer rule " << program.canonical_text()
      << " found with nos, as a torch.optim.Optimizer.\n\n"
      << "rule:  " << program.canonical_text() << "\n"
      << "hash:  " << hash << " (as `nos rule` prints it: 64-bit FNV-1a of the canonical text)\n";
  if (!rule.name.empty()) out << "named: " << rule.name << " = " << rule.text << "\n";
  out << "state: step" << (state.empty() ? "" : ", " + state) << " (per parameter, in self.state[p])\n\n"
      << "Written by `nos export --to pytorch` from the rule's compiled program: each statement r<k> = ... of\n"
      << class_name << "._update is the program's instruction k, computed with the torch operation nos's reference\n"
      << "path runs for it (Program::direction), so on the same LibTorch the two agree to the last bit in float64.\n"
      << "Needs only PyTorch. Usage:\n\n"
      << "    opt = " << class_name << "(model.parameters()"
      << (program.uses_decay() ? ", total_steps=10000" : "") << ")\n"
      << "    loss.backward(); opt.step(); opt.zero_grad()\n"
      << "\"\"\"\n\n"
      << "import math\n\nimport torch\n\n"
      << "__all__ = [" << quoted(class_name) << "]\n\n"
      << "RULE = " << quoted(program.canonical_text()) << "\n"
      << "RULE_HASH = " << quoted(hash) << "\n"
      << exporting::kPythonHelpers << python_class(rule, program, class_name, hash);
  return out.str();
}

}  // namespace nos::optimizers
