// The CUDA code generator: a rule's update as one elementwise kernel's source, and the arguments of each launch.
#include "dsl/cuda_codegen.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "dsl/error.h"
#include "dsl/parse.h"
#include "dsl/update_math.h"

namespace nos::dsl {

namespace {

// Args::s: −lr, the weight decay, then per average β, 1 − β, 1/(1 − β^t) and 1/√(1 − β^t), then one per scalar
// instruction in code order.
constexpr int kScalarLr = 0;
constexpr int kScalarWeightDecay = 1;
constexpr int kScalarsPerAverage = 4;
int average_scalar(int average, int which) { return 2 + kScalarsPerAverage * average + which; }

// A double as a C++ literal that reads back to the same value.
std::string literal(double x) {
  if (std::isinf(x)) return x > 0 ? "(1.0/0.0)" : "(-1.0/0.0)";
  if (std::isnan(x)) return "(0.0/0.0)";
  std::ostringstream out;
  out.precision(17);
  out << x;
  std::string s = out.str();
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return "(" + s + ")";
}

// The prelude's shared helpers around nos_pow_scalar (prelude()).
const char* kPreludeHead = R"(// nos: a rule's update as one elementwise kernel (nos::dsl::elementwise_kernel).
#if defined(__CUDACC_RTC__)
#define NOS_FN static __device__ __forceinline__
#elif defined(__CUDACC__)
#define NOS_FN static __device__ __forceinline__ __attribute__((unused))
#else
#include <math.h>
#define NOS_FN static inline
#endif
#ifndef NOS_PRELUDE
#define NOS_PRELUDE
// ATen's sign, (0 < x) - (x < 0): sign(NaN) = 0.
NOS_FN float nos_sign(float x) { return (float)(0.0f < x) - (float)(x < 0.0f); }
NOS_FN double nos_sign(double x) { return (double)(0.0 < x) - (double)(x < 0.0); }
// ATen's clamp: NaN stays NaN.
NOS_FN float nos_clamp(float x, float lo, float hi) { return x != x ? x : (x < lo ? lo : (x > hi ? hi : x)); }
NOS_FN double nos_clamp(double x, double lo, double hi) { return x != x ? x : (x < lo ? lo : (x > hi ? hi : x)); }
// at::maximum and at::minimum (and clamp_min/clamp_max with a scalar): NaN in either operand gives NaN.
NOS_FN float nos_max(float x, float y) { return x != x ? x : (y != y ? y : (x > y ? x : y)); }
NOS_FN double nos_max(double x, double y) { return x != x ? x : (y != y ? y : (x > y ? x : y)); }
NOS_FN float nos_min(float x, float y) { return x != x ? x : (y != y ? y : (x < y ? x : y)); }
NOS_FN double nos_min(double x, double y) { return x != x ? x : (y != y ? y : (x < y ? x : y)); }
// at::pow(x, e) for a scalar exponent: ATen's special exponents first.
)";
const char* kPreludeTail = R"(// at::pow(b, x) for a scalar base: 1 when b is 1.
NOS_FN float nos_pow_base(double b, float x) { return b == 1.0 ? 1.0f : powf((float)b, x); }
NOS_FN double nos_pow_base(double b, double x) { return b == 1.0 ? 1.0 : pow(b, x); }
#endif
)";

// at::pow's shortcut for one special exponent (update_math.h) as an expression in x, in the dtype whose 1 is
// written `one` and whose square root is `sqrt`.
std::string pow_shortcut_source(PowShortcut shortcut, const std::string& one, const std::string& sqrt) {
  switch (shortcut) {
    case PowShortcut::kOne: return one;
    case PowShortcut::kIdentity: return "x";
    case PowShortcut::kSqrt: return sqrt + "(x)";
    case PowShortcut::kSquare: return "x * x";
    case PowShortcut::kCube: return "x * x * x";
    case PowShortcut::kRsqrt: return one + " / " + sqrt + "(x)";
    case PowShortcut::kReciprocal: return one + " / x";
    case PowShortcut::kReciprocalSquare: return one + " / (x * x)";
    case PowShortcut::kNone: break;
  }
  NOS_CHECK(false, "pow without a shortcut has no shortcut source");
  return "";
}

// nos_pow_scalar(x, e) for one dtype: the special exponents in ATen's order, then `fallback`.
std::string pow_scalar_source(const std::string& type, const std::string& one, const std::string& sqrt,
                              const std::string& fallback) {
  std::ostringstream out;
  out << "NOS_FN " << type << " nos_pow_scalar(" << type << " x, double e) {\n";
  for (const PowSpecial& special : kPowSpecials) {
    out << "  if (e == " << special.exponent << ") return " << pow_shortcut_source(special.shortcut, one, sqrt)
        << ";\n";
  }
  out << "  return " << fallback << ";\n}\n";
  return out.str();
}

// What every kernel shares: macros, ATen's sign and clamp, and at::pow's special exponents.
const std::string& prelude() {
  static const std::string text = kPreludeHead + pow_scalar_source("float", "1.0f", "sqrtf", "powf(x, (float)e)") +
                                  pow_scalar_source("double", "1.0", "sqrt", "pow(x, e)") + kPreludeTail;
  return text;
}

// The rule expression instruction k computes (for the source's comments).
NodePtr expression_of(const std::vector<Program::Instr>& code, int k) {
  const Program::Instr& in = code[k];
  const Primitive& p = primitive(in.prim);
  switch (p.role) {
    case Role::kOperand: return in.prim == Prim::kConst ? make_const(in.param) : make_operand(in.prim, in.param);
    case Role::kUnary:
      if (in.prim == Prim::kIdentity) return expression_of(code, in.a);
      return make_unary(in.prim, expression_of(code, in.a), in.param);
    case Role::kBinary: return make_binary(in.prim, expression_of(code, in.a), expression_of(code, in.b));
  }
  return nullptr;
}

// The math functions of one dtype.
struct Math {
  std::string type, exp, log, sqrt, fabs, pow, fma;
};
Math math_for(at::ScalarType dtype) {
  if (dtype == at::kFloat) return {"float", "expf", "logf", "sqrtf", "fabsf", "powf", "fmaf"};
  return {"double", "exp", "log", "sqrt", "fabs", "pow", "fma"};
}

// The writer of one rule's kernel body: the Args struct, the element function (averages, one expression per
// instruction, the update of w) and the entry points, each a method.
class BodyWriter {
 public:
  BodyWriter(const Program& program, at::ScalarType dtype, bool weight_decay, ElementwiseKernel& kernel)
      : program_(program),
        code_(program.code()),
        scalar_(scalar_instructions(program)),
        m_(math_for(dtype)),
        weight_decay_(weight_decay),
        kernel_(kernel) {
    kernel_.averages = static_cast<int>(program.averages().size());
    scalar_slot_.assign(code_.size(), -1);
    random_slot_.assign(code_.size(), -1);
    int next_scalar = average_scalar(kernel_.averages, 0);
    factor_slot_.assign(code_.size(), -1);
    for (size_t k = 0; k < code_.size(); ++k) {
      if (scalar_[k]) scalar_slot_[k] = next_scalar++;
      if (primitive(code_[k].prim).random) random_slot_[k] = kernel_.randoms++;
    }
    // nadam's and radam's step_factors, four slots each, after the scalars.
    for (size_t k = 0; k < code_.size(); ++k) {
      if (has_step_factors(code_[k].prim)) {
        factor_slot_[k] = next_scalar;
        next_scalar += 4;
      }
    }
    kernel_.scalars = next_scalar;
  }

  std::string write() {
    arguments();
    out_ << "NOS_FN void " << kernel_.entry << "_element(const " << kernel_.entry << "_args& p, long long i) {\n";
    out_ << "  const " << T() << " w0 = p.w[i];\n";
    // reference_update's decayed gradient g + weight_decay·w (update_math.h).
    const std::string g =
        weight_decay_ ? decayed_gradient<std::string>("p.g[i]", "w0", cast(s(kScalarWeightDecay)), fma()) : "p.g[i]";
    out_ << "  const " << T() << " g = " << g << ";\n";
    averages();
    for (size_t k = 0; k < code_.size(); ++k) {
      if (scalar_[k]) continue;
      const int r = static_cast<int>(k);
      out_ << "  const " << T() << " " << reg(r) << " = " << expression(r) << ";\n";
    }
    const int last = static_cast<int>(code_.size()) - 1;
    const std::string direction = scalar_[last] ? cast(s(scalar_slot_[last])) : reg(last);
    // reference_update's w.add_(direction, −lr) (update_math.h).
    out_ << "  p.w[i] = " << applied_update<std::string>("w0", direction, cast(s(kScalarLr)), fma()) << ";\n";
    previous();
    out_ << "}\n";
    entry_points();
    return out_.str();
  }

 private:
  const std::string& T() const { return m_.type; }
  static std::string s(int slot) { return "p.s[" + std::to_string(slot) + "]"; }
  std::string cast(const std::string& x) const { return "(" + T() + ")" + x; }
  static std::string reg(int k) { return "r" + std::to_string(k); }
  static std::string avg(int i) { return "a" + std::to_string(i); }
  std::string eps() const { return cast(literal(kDivEpsilon)); }
  // The dtype's fused multiply-add x·a + y, as source text.
  struct SourceFma {
    std::string function;
    std::string operator()(const std::string& x, const std::string& a, const std::string& y) const {
      return function + "(" + x + ", " + a + ", " + y + ")";
    }
  };
  SourceFma fma() const { return {m_.fma}; }

  // The comments on the arguments, for whoever launches the kernel outside nos, and the Args struct of 8-byte words.
  void arguments() {
    const std::vector<Average>& averages = program_.averages();
    out_ << "// rule " << program_.canonical_text() << " (" << T() << (weight_decay_ ? ", weight decay" : "")
         << ")\n";
    out_ << "// Args: n elements; w, g; a[] the moving averages;"
         << (kernel_.randoms > 0 ? " r[] the random draws;" : "") << " s[0] = -lr, s[1] = weight decay\n";
    for (int i = 0; i < kernel_.averages; ++i) {
      out_ << "//   a[" << i << "] = " << average_name(averages[i]) << ": s[" << average_scalar(i, 0) << ".."
           << average_scalar(i, 3)
           << "] = beta, 1 - beta, 1/(1 - beta^t), 1/sqrt(1 - beta^t) (t = 1 at the first update)\n";
    }
    for (size_t k = 0; k < code_.size(); ++k) {
      if (random_slot_[k] < 0) continue;
      out_ << "//   r[" << random_slot_[k] << "] = " << primitive(code_[k].prim).name
           << (code_[k].prim == Prim::kDrop ? " keep mask (0 or 1)" : " sample") << "\n";
    }
    for (size_t k = 0; k < code_.size(); ++k) {
      if (scalar_slot_[k] < 0) continue;
      out_ << "//   s[" << scalar_slot_[k] << "] = " << to_infix(*expression_of(code_, static_cast<int>(k)))
           << (program_.uses_decay() && code_[k].prim != Prim::kConst ? " at this step" : "") << "\n";
    }
    const std::string& entry = kernel_.entry;
    out_ << "struct " << entry << "_args { long long n; " << T() << "* w; const " << T() << "* g; " << T() << "* a["
         << std::max(1, kernel_.averages) << "]; const " << T() << "* r[" << std::max(1, kernel_.randoms)
         << "]; double s[" << kernel_.scalars << "]; };\n";
  }

  // The averages first, as Program::direction updates them: buf.mul_(β), then add_(g, 1 − β) (fused multiply-add),
  // addcmul_(g, g, 1 − β) ((1 − β)·g·g added) or add_(g·g·g, 1 − β); vmax the maximum with its v (written before
  // it), s + g·g; mp is read as it is and written after the rule (previous()).
  void averages() {
    const std::vector<Average>& averages = program_.averages();
    for (int i = 0; i < kernel_.averages; ++i) {
      const std::string beta = cast(s(average_scalar(i, 0))), alpha = cast(s(average_scalar(i, 1)));
      const std::string old = "p.a[" + std::to_string(i) + "][i]";
      out_ << "  " << T() << " " << avg(i) << " = ";
      switch (averages[i].moment) {
        case Moment::kFirst: out_ << m_.fma << "(g, " << alpha << ", " << old << " * " << beta << ");\n"; break;
        case Moment::kSecond: out_ << old << " * " << beta << " + " << alpha << " * g * g;\n"; break;
        case Moment::kThird:
          out_ << m_.fma << "(g * g * g, " << alpha << ", " << old << " * " << beta << ");\n";
          break;
        case Moment::kMaxSecond:
          out_ << "nos_max(" << old << ", " << avg(partner_average(averages, i)) << ");\n";
          break;
        case Moment::kSum: out_ << old << " + g * g;\n"; break;
        case Moment::kPrev: out_ << old << ";\n"; break;
        case Moment::kNone: NOS_CHECK(false, "average without a moment"); break;
      }
      if (averages[i].moment != Moment::kPrev) out_ << "  " << old << " = " << avg(i) << ";\n";
    }
  }

  // mp's buffers after the rule (Program::direction's update_previous): buf.mul_(β).add_(g, 1 − β).
  void previous() {
    const std::vector<Average>& averages = program_.averages();
    for (int i = 0; i < kernel_.averages; ++i) {
      if (averages[i].moment != Moment::kPrev) continue;
      const std::string beta = cast(s(average_scalar(i, 0))), alpha = cast(s(average_scalar(i, 1)));
      out_ << "  p.a[" << i << "][i] = " << m_.fma << "(g, " << alpha << ", " << avg(i) << " * " << beta << ");\n";
    }
  }

  std::string corrected(int i) const { return "(" + avg(i) + " * " + cast(s(average_scalar(i, 2))) + ")"; }
  std::string sqrt_corrected(int i) const {
    return "(" + m_.sqrt + "(" + avg(i) + ") * " + cast(s(average_scalar(i, 3))) + ")";
  }

  // Instruction k's expression. Each case follows the torch op of Program::direction's same case.
  std::string expression(int k) const {
    const Program::Instr& in = code_[k];
    const bool regs = reads_registers(in.prim);
    const bool a_scalar = regs && in.a >= 0 && scalar_[in.a];
    const bool b_scalar = regs && in.b >= 0 && scalar_[in.b];
    const std::string x = regs && in.a >= 0 ? (a_scalar ? s(scalar_slot_[in.a]) : reg(in.a)) : "";
    const std::string y = regs && in.b >= 0 ? (b_scalar ? s(scalar_slot_[in.b]) : reg(in.b)) : "";
    const std::string random = random_slot_[k] >= 0 ? "p.r[" + std::to_string(random_slot_[k]) + "][i]" : "";
    switch (in.prim) {
      case Prim::kG: return "g";
      case Prim::kG2: return "g * g";
      case Prim::kG3: return "g * g * g";
      case Prim::kM:
      case Prim::kV:
      case Prim::kY:
      case Prim::kVMax:
      case Prim::kS:
      case Prim::kMP: return corrected(in.a);
      case Prim::kNoise:
      case Prim::kANoise: return random;
      case Prim::kW: return "w0";
      case Prim::kAdam:
      case Prim::kAMSGrad:
        return corrected(in.a) + " / (" + sqrt_corrected(in.b) + " + " + cast(literal(in.param)) + ")";
      case Prim::kRMSProp:
      case Prim::kAdaGrad: return "g / (" + sqrt_corrected(in.b) + " + " + cast(literal(in.param)) + ")";
      case Prim::kNAdam:
      case Prim::kRAdam: {
        // Program::direction's cases with step_factors f0..f3 (p.s slots).
        auto f = [&](int j) { return cast(s(factor_slot_[k] + j)); };
        const std::string eps = cast(literal(in.param));
        if (in.prim == Prim::kNAdam) {
          return "(g * " + f(0) + " + " + avg(in.a) + " * " + f(1) + ") / (" + m_.sqrt + "(" + avg(in.b) + " / " +
                 f(2) + ") + " + eps + ")";
        }
        const std::string m_hat = avg(in.a) + " / " + f(3);
        return "(" + s(factor_slot_[k]) + " != 0.0 ? " + m_hat + " * ((" + cast("1") + " / (" + m_.sqrt + "(" +
               avg(in.b) + ") + " + eps + ")) * " + f(2) + ") * " + f(1) + " : " + m_hat + ")";
      }
      case Prim::kNorm:
      case Prim::kTrust: NOS_CHECK(false, "no generated form (elementwise_kernel refuses a reduction)"); return "";
      case Prim::kT:
      case Prim::kTotal:
      case Prim::kLD:
      case Prim::kCD:
      case Prim::kRD:
      case Prim::kConst: NOS_CHECK(false, "scalar operands fold"); return "";
      case Prim::kIdentity:
      case Prim::kKeep: return x;
      case Prim::kNeg: return "-" + x;
      case Prim::kExp: return m_.exp + "(" + x + ")";
      case Prim::kLog: return m_.log + "(" + m_.fabs + "(" + x + "))";
      case Prim::kSqrt: return m_.sqrt + "(" + m_.fabs + "(" + x + "))";
      case Prim::kSign: return "nos_sign(" + x + ")";
      case Prim::kClip:
        return "nos_clamp(" + x + ", " + cast(literal(-in.param)) + ", " + cast(literal(in.param)) + ")";
      case Prim::kDrop: return (a_scalar ? cast(x) : x) + " * " + random;
      // A scalar operand is cast to the tensor's dtype, as ATen's kernels cast a wrapped number, and stays on the
      // side where Program::direction puts it.
      case Prim::kAdd: return a_scalar ? y + " + " + cast(x) : x + " + " + (b_scalar ? cast(y) : y);
      case Prim::kSub: return a_scalar ? cast(x) + " - " + y : x + " - " + (b_scalar ? cast(y) : y);
      case Prim::kMul: return a_scalar ? y + " * " + cast(x) : x + " * " + (b_scalar ? cast(y) : y);
      case Prim::kDiv:
        if (a_scalar) return "(" + cast("1") + " / (" + y + " + " + eps() + ")) * " + cast(x);
        if (b_scalar) return x + " / " + cast("(" + y + " + " + literal(kDivEpsilon) + ")");
        return x + " / (" + y + " + " + eps() + ")";
      case Prim::kPow:
        if (a_scalar) return "nos_pow_base(" + x + ", " + y + ")";
        if (b_scalar) return "nos_pow_scalar(" + x + ", " + y + ")";
        return m_.pow + "(" + x + ", " + y + ")";
      case Prim::kAbs: return m_.fabs + "(" + x + ")";
      case Prim::kMax:
      case Prim::kMin: {
        const std::string fn = in.prim == Prim::kMax ? "nos_max(" : "nos_min(";
        return fn + (a_scalar ? cast(x) : x) + ", " + (b_scalar ? cast(y) : y) + ")";
      }
        // Do not add a default clause: every primitive must be handled here (-Werror=switch names a new one).
    }
    NOS_CHECK(false, "unknown primitive " << static_cast<int>(in.prim));
    return "";
  }

  // Under NVRTC or nvcc an extern "C" __global__ kernel over a grid-stride loop; as C++ an extern "C" function
  // running the same loop on one thread.
  void entry_points() {
    const std::string& entry = kernel_.entry;
    out_ << "#if defined(__CUDACC_RTC__) || defined(__CUDACC__)\n";
    out_ << "extern \"C\" __global__ void " << entry << "(" << entry << "_args p) {\n";
    out_ << "  const long long stride = (long long)blockDim.x * gridDim.x;\n";
    out_ << "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += stride) " << entry
         << "_element(p, i);\n";
    out_ << "}\n";
    out_ << "#else\n";
    out_ << "extern \"C\" void " << entry << "(const void* words) {\n";
    out_ << "  const " << entry << "_args& p = *static_cast<const " << entry << "_args*>(words);\n";
    out_ << "  for (long long i = 0; i < p.n; ++i) " << entry << "_element(p, i);\n";
    out_ << "}\n";
    out_ << "#endif\n";
  }

  const Program& program_;
  const std::vector<Program::Instr>& code_;
  const std::vector<bool> scalar_;
  const Math m_;
  const bool weight_decay_;
  ElementwiseKernel& kernel_;
  std::vector<int> scalar_slot_, random_slot_, factor_slot_;
  std::ostringstream out_;
};

}  // namespace

ElementwiseKernel elementwise_kernel(const Program& program, at::ScalarType dtype, bool weight_decay,
                                     const std::string& entry) {
  NOS_CHECK(dtype == at::kFloat || dtype == at::kDouble,
            "elementwise kernels are float32 or float64, not " << c10::toString(dtype));
  if (program.has_reduction()) {
    throw UserError("rule '" + program.canonical_text() +
                    "' has a reduction (norm or trust), which an elementwise kernel cannot compute: on CUDA it runs "
                    "the reference path (the fused CPU kernel runs it in stages)");
  }
  ElementwiseKernel kernel;
  kernel.entry = entry;
  kernel.prelude = prelude();
  kernel.body = BodyWriter(program, dtype, weight_decay, kernel).write();
  return kernel;
}

ElementwiseLaunch elementwise_launch(const ElementwiseKernel& kernel, const Program& program,
                                     const DenseOperands& dense, const StepContext& ctx, const UpdateArgs& args) {
  const std::vector<Program::Instr>& code = program.code();
  const std::vector<bool> scalar = scalar_instructions(program);
  const std::vector<double> value = scalar_values(program, scalar, ctx);
  NOS_CHECK(static_cast<int>(dense.averages.size()) == kernel.averages,
            "kernel " << kernel.entry << " takes " << kernel.averages << " averages, got " << dense.averages.size());
  ElementwiseLaunch launch;
  std::vector<double> s(static_cast<size_t>(kernel.scalars), 0.0);
  s[kScalarLr] = -args.lr;
  s[kScalarWeightDecay] = args.weight_decay;
  const std::vector<BiasCorrection> corrections = bias_corrections(program, ctx);
  for (int i = 0; i < kernel.averages; ++i) {
    const double beta = program.averages()[i].beta;
    s[average_scalar(i, 0)] = beta;
    s[average_scalar(i, 1)] = 1.0 - beta;
    s[average_scalar(i, 2)] = corrections[i].scale;
    s[average_scalar(i, 3)] = corrections[i].sqrt_scale;
  }
  // Scalars in their slots and random tensors drawn in code order, as Program::direction does; then nadam's and
  // radam's step factors.
  int slot = average_scalar(kernel.averages, 0);
  for (size_t k = 0; k < code.size(); ++k) {
    if (scalar[k]) {
      s[slot++] = value[k];
    } else if (primitive(code[k].prim).random) {
      launch.draws.push_back(laid_out_like(draw_random(code[k], dense.g, ctx), dense.w));
    }
  }
  for (size_t k = 0; k < code.size(); ++k) {
    if (!has_step_factors(code[k].prim)) continue;
    for (double f : step_factors(code[k], ctx)) s[slot++] = f;
  }
  NOS_CHECK(slot == kernel.scalars && static_cast<int>(launch.draws.size()) == kernel.randoms,
            "kernel " << kernel.entry << " does not match rule '" << program.canonical_text() << "'");

  auto word = [](const void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); };
  launch.words.push_back(static_cast<uint64_t>(dense.w.numel()));
  launch.words.push_back(word(dense.w.data_ptr()));
  launch.words.push_back(word(dense.g.data_ptr()));
  for (int i = 0; i < std::max(1, kernel.averages); ++i) {
    launch.words.push_back(i < kernel.averages ? word(dense.averages[i].data_ptr()) : 0);
  }
  for (int i = 0; i < std::max(1, kernel.randoms); ++i) {
    launch.words.push_back(i < kernel.randoms ? word(launch.draws[i].data_ptr()) : 0);
  }
  for (double x : s) {
    uint64_t bits = 0;
    std::memcpy(&bits, &x, sizeof bits);
    launch.words.push_back(bits);
  }
  NOS_CHECK(launch.words.size() == kernel.words(), "kernel " << kernel.entry << ": " << launch.words.size()
                                                               << " argument words for an Args of " << kernel.words());
  return launch;
}

void elementwise_update(const ElementwiseKernel& kernel, const Program& program, const at::Tensor& w,
                        const at::Tensor& g, std::vector<at::Tensor>& averages, const StepContext& ctx,
                        const UpdateArgs& args, const std::function<void(const ElementwiseLaunch&)>& run) {
  NOS_CHECK(w.scalar_type() == g.scalar_type() && w.device() == g.device(),
            "elementwise update of rule '" << program.canonical_text() << "': the gradient's dtype or device differs");
  program.check_step(w, g, averages, ctx);
  if (w.numel() == 0) return;
  DenseOperands dense = dense_operands(w, g, averages);
  const ElementwiseLaunch launch = elementwise_launch(kernel, program, dense, ctx, args);
  run(launch);
  write_back(dense, w, averages);
}

}  // namespace nos::dsl
