// The elementwise kernel generator (one expression per instruction of Program::code()) and its launch arguments.
#include "dsl/elementwise.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "dsl/error.h"
#include "dsl/parse.h"

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

const char* kPrelude = R"(// nos: a rule's update as one elementwise kernel (nos::dsl::elementwise_kernel).
#ifdef __CUDACC_RTC__
#define NOS_FN static __device__ __forceinline__
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
// at::pow(x, e) for a scalar exponent: ATen's special exponents first.
NOS_FN float nos_pow_scalar(float x, double e) {
  if (e == 0) return 1.0f;
  if (e == 1) return x;
  if (e == 0.5) return sqrtf(x);
  if (e == 2) return x * x;
  if (e == 3) return x * x * x;
  if (e == -0.5) return 1.0f / sqrtf(x);
  if (e == -1) return 1.0f / x;
  if (e == -2) return 1.0f / (x * x);
  return powf(x, (float)e);
}
NOS_FN double nos_pow_scalar(double x, double e) {
  if (e == 0) return 1.0;
  if (e == 1) return x;
  if (e == 0.5) return sqrt(x);
  if (e == 2) return x * x;
  if (e == 3) return x * x * x;
  if (e == -0.5) return 1.0 / sqrt(x);
  if (e == -1) return 1.0 / x;
  if (e == -2) return 1.0 / (x * x);
  return pow(x, e);
}
// at::pow(b, x) for a scalar base: 1 when b is 1.
NOS_FN float nos_pow_base(double b, float x) { return b == 1.0 ? 1.0f : powf((float)b, x); }
NOS_FN double nos_pow_base(double b, double x) { return b == 1.0 ? 1.0 : pow(b, x); }
#endif
)";

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

}  // namespace

ElementwiseKernel elementwise_kernel(const Program& program, at::ScalarType dtype, bool weight_decay,
                                     const std::string& entry) {
  NOS_CHECK(dtype == at::kFloat || dtype == at::kDouble,
            "elementwise kernels are float32 or float64, not " << c10::toString(dtype));
  const std::vector<Program::Instr>& code = program.code();
  const std::vector<Average>& averages = program.averages();
  const std::vector<bool> scalar = scalar_instructions(program);
  const Math m = math_for(dtype);
  const std::string& T = m.type;

  ElementwiseKernel kernel;
  kernel.entry = entry;
  kernel.prelude = kPrelude;
  kernel.averages = static_cast<int>(averages.size());
  std::vector<int> scalar_slot(code.size(), -1), random_slot(code.size(), -1);
  int next_scalar = average_scalar(kernel.averages, 0);
  for (size_t k = 0; k < code.size(); ++k) {
    if (scalar[k]) scalar_slot[k] = next_scalar++;
    if (primitive(code[k].prim).random) random_slot[k] = kernel.randoms++;
  }
  kernel.scalars = next_scalar;

  auto s = [](int slot) { return "p.s[" + std::to_string(slot) + "]"; };
  auto cast = [&](const std::string& x) { return "(" + T + ")" + x; };
  auto reg = [](int k) { return "r" + std::to_string(k); };
  auto avg = [](int i) { return "a" + std::to_string(i); };
  const std::string eps = cast(literal(kDivEpsilon));

  std::ostringstream out;
  out << "// rule " << program.canonical_text() << " (" << T << (weight_decay ? ", weight decay" : "") << ")\n";
  // The arguments, for whoever launches the kernel outside nos: one struct of 8-byte words.
  out << "// Args: n elements; w, g; a[] the moving averages;" << (kernel.randoms > 0 ? " r[] the random draws;" : "")
      << " s[0] = -lr, s[1] = weight decay\n";
  for (int i = 0; i < kernel.averages; ++i) {
    out << "//   a[" << i << "] = " << average_name(averages[i]) << ": s[" << average_scalar(i, 0) << ".."
        << average_scalar(i, 3) << "] = beta, 1 - beta, 1/(1 - beta^t), 1/sqrt(1 - beta^t) (t = 1 at the first update)\n";
  }
  for (size_t k = 0; k < code.size(); ++k) {
    if (random_slot[k] >= 0) {
      out << "//   r[" << random_slot[k] << "] = " << primitive(code[k].prim).name
          << (code[k].prim == Prim::kDrop ? " keep mask (0 or 1)" : " sample") << "\n";
    }
  }
  for (size_t k = 0; k < code.size(); ++k) {
    if (scalar_slot[k] < 0) continue;
    out << "//   s[" << scalar_slot[k] << "] = " << to_infix(*expression_of(code, static_cast<int>(k)))
        << (program.uses_decay() && code[k].prim != Prim::kConst ? " at this step" : "") << "\n";
  }
  out << "struct " << entry << "_args { long long n; " << T << "* w; const " << T << "* g; " << T << "* a["
      << std::max(1, kernel.averages) << "]; const " << T << "* r[" << std::max(1, kernel.randoms) << "]; double s["
      << kernel.scalars << "]; };\n";
  out << "NOS_FN void " << entry << "_element(const " << entry << "_args& p, long long i) {\n";
  out << "  const " << T << " w0 = p.w[i];\n";
  // reference_update: grad = g.add(w, weight_decay), an add with alpha (a fused multiply-add in ATen's kernels).
  if (weight_decay) {
    out << "  const " << T << " g = " << m.fma << "(w0, " << cast(s(kScalarWeightDecay)) << ", p.g[i]);\n";
  } else {
    out << "  const " << T << " g = p.g[i];\n";
  }
  // The averages first, as Program::direction updates them: buf.mul_(β), then add_(g, 1 − β) (fused multiply-add),
  // addcmul_(g, g, 1 − β) ((1 − β)·g·g added) or add_(g·g·g, 1 − β).
  for (int i = 0; i < kernel.averages; ++i) {
    const std::string beta = cast(s(average_scalar(i, 0))), alpha = cast(s(average_scalar(i, 1)));
    out << "  " << T << " " << avg(i) << " = p.a[" << i << "][i] * " << beta << ";\n";
    switch (averages[i].moment) {
      case Moment::kFirst: out << "  " << avg(i) << " = " << m.fma << "(g, " << alpha << ", " << avg(i) << ");\n"; break;
      case Moment::kSecond: out << "  " << avg(i) << " = " << avg(i) << " + " << alpha << " * g * g;\n"; break;
      case Moment::kThird:
        out << "  " << avg(i) << " = " << m.fma << "(g * g * g, " << alpha << ", " << avg(i) << ");\n";
        break;
      case Moment::kNone: NOS_CHECK(false, "average without a moment"); break;
    }
    out << "  p.a[" << i << "][i] = " << avg(i) << ";\n";
  }
  auto corrected = [&](int i) { return "(" + avg(i) + " * " + cast(s(average_scalar(i, 2))) + ")"; };
  auto sqrt_corrected = [&](int i) {
    return "(" + m.sqrt + "(" + avg(i) + ") * " + cast(s(average_scalar(i, 3))) + ")";
  };

  for (size_t k = 0; k < code.size(); ++k) {
    if (scalar[k]) continue;
    const Program::Instr& in = code[k];
    const bool regs = reads_registers(in.prim);
    const bool a_scalar = regs && in.a >= 0 && scalar[in.a];
    const bool b_scalar = regs && in.b >= 0 && scalar[in.b];
    const std::string x = regs && in.a >= 0 ? (a_scalar ? s(scalar_slot[in.a]) : reg(in.a)) : "";
    const std::string y = regs && in.b >= 0 ? (b_scalar ? s(scalar_slot[in.b]) : reg(in.b)) : "";
    const std::string random = random_slot[k] >= 0 ? "p.r[" + std::to_string(random_slot[k]) + "][i]" : "";
    std::string e;
    switch (in.prim) {
      case Prim::kG: e = "g"; break;
      case Prim::kG2: e = "g * g"; break;
      case Prim::kG3: e = "g * g * g"; break;
      case Prim::kM:
      case Prim::kV:
      case Prim::kY: e = corrected(in.a); break;
      case Prim::kNoise:
      case Prim::kANoise: e = random; break;
      case Prim::kW: e = "w0"; break;
      case Prim::kAdam: e = corrected(in.a) + " / (" + sqrt_corrected(in.b) + " + " + eps + ")"; break;
      case Prim::kRMSProp: e = "g / (" + sqrt_corrected(in.b) + " + " + eps + ")"; break;
      case Prim::kLD:
      case Prim::kCD:
      case Prim::kRD:
      case Prim::kConst: NOS_CHECK(false, "scalar operands fold"); break;
      case Prim::kIdentity:
      case Prim::kKeep: e = x; break;
      case Prim::kNeg: e = "-" + x; break;
      case Prim::kExp: e = m.exp + "(" + x + ")"; break;
      case Prim::kLog: e = m.log + "(" + m.fabs + "(" + x + "))"; break;
      case Prim::kSqrt: e = m.sqrt + "(" + m.fabs + "(" + x + "))"; break;
      case Prim::kSign: e = "nos_sign(" + x + ")"; break;
      case Prim::kClip: e = "nos_clamp(" + x + ", " + cast(literal(-in.param)) + ", " + cast(literal(in.param)) + ")"; break;
      case Prim::kDrop: e = (a_scalar ? cast(x) : x) + " * " + random; break;
      // A scalar operand is cast to the tensor's dtype, as ATen's kernels cast a wrapped number, and stays on the
      // side where Program::direction puts it.
      case Prim::kAdd:
        e = a_scalar ? y + " + " + cast(x) : x + " + " + (b_scalar ? cast(y) : y);
        break;
      case Prim::kSub:
        e = a_scalar ? cast(x) + " - " + y : x + " - " + (b_scalar ? cast(y) : y);
        break;
      case Prim::kMul:
        e = a_scalar ? y + " * " + cast(x) : x + " * " + (b_scalar ? cast(y) : y);
        break;
      case Prim::kDiv:
        if (a_scalar) {
          e = "(" + cast("1") + " / (" + y + " + " + eps + ")) * " + cast(x);
        } else if (b_scalar) {
          e = x + " / " + cast("(" + y + " + " + literal(kDivEpsilon) + ")");
        } else {
          e = x + " / (" + y + " + " + eps + ")";
        }
        break;
      case Prim::kPow:
        if (a_scalar) {
          e = "nos_pow_base(" + x + ", " + y + ")";
        } else if (b_scalar) {
          e = "nos_pow_scalar(" + x + ", " + y + ")";
        } else {
          e = m.pow + "(" + x + ", " + y + ")";
        }
        break;
    }
    out << "  const " << T << " " << reg(static_cast<int>(k)) << " = " << e << ";\n";
  }
  const int last = static_cast<int>(code.size()) - 1;
  const std::string direction = scalar[last] ? cast(s(scalar_slot[last])) : reg(last);
  // w.add_(direction, −lr).
  out << "  p.w[i] = " << m.fma << "(" << direction << ", " << cast(s(kScalarLr)) << ", w0);\n";
  out << "}\n";
  out << "#ifdef __CUDACC_RTC__\n";
  out << "extern \"C\" __global__ void " << entry << "(" << entry << "_args p) {\n";
  out << "  const long long stride = (long long)blockDim.x * gridDim.x;\n";
  out << "  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += stride) " << entry
      << "_element(p, i);\n";
  out << "}\n";
  out << "#else\n";
  out << "extern \"C\" void " << entry << "(const void* words) {\n";
  out << "  const " << entry << "_args& p = *static_cast<const " << entry << "_args*>(words);\n";
  out << "  for (long long i = 0; i < p.n; ++i) " << entry << "_element(p, i);\n";
  out << "}\n";
  out << "#endif\n";
  kernel.body = out.str();
  return kernel;
}

at::Tensor laid_out_like(const at::Tensor& t, const at::Tensor& like) {
  if (t.strides() == like.strides()) return t;
  return at::empty_like(like).copy_(t);
}

DenseOperands dense_operands(const at::Tensor& w, const at::Tensor& g, const std::vector<at::Tensor>& averages) {
  DenseOperands dense;
  dense.direct = w.is_non_overlapping_and_dense() && g.strides() == w.strides();
  for (const at::Tensor& a : averages) dense.direct = dense.direct && a.strides() == w.strides();
  dense.w = dense.direct ? w : w.contiguous();
  dense.g = dense.direct ? g : g.contiguous();
  for (const at::Tensor& a : averages) dense.averages.push_back(dense.direct ? a : a.contiguous());
  return dense;
}

void write_back(const DenseOperands& dense, const at::Tensor& w, std::vector<at::Tensor>& averages) {
  if (!dense.direct) {
    if (!dense.w.is_same(w)) w.copy_(dense.w);
    for (size_t i = 0; i < averages.size(); ++i) {
      if (!dense.averages[i].is_same(averages[i])) averages[i].copy_(dense.averages[i]);
    }
  } else if (!w.is_inference()) {
    // The kernel wrote through raw pointers: tell autograd w changed, as w.add_ would.
    w.unsafeGetTensorImpl()->bump_version();
  }
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
  const double step = static_cast<double>(ctx.t + 1);
  for (int i = 0; i < kernel.averages; ++i) {
    const double beta = program.averages()[i].beta;
    const double correction = ctx.bias_correction ? 1.0 - std::pow(beta, step) : 1.0;
    s[average_scalar(i, 0)] = beta;
    s[average_scalar(i, 1)] = 1.0 - beta;
    s[average_scalar(i, 2)] = 1.0 / correction;
    s[average_scalar(i, 3)] = 1.0 / std::sqrt(correction);
  }
  // Scalars in their slots and random tensors drawn in code order, as Program::direction does.
  int slot = average_scalar(kernel.averages, 0);
  for (size_t k = 0; k < code.size(); ++k) {
    if (scalar[k]) {
      s[slot++] = value[k];
    } else if (primitive(code[k].prim).random) {
      launch.draws.push_back(laid_out_like(draw_random(code[k], dense.g, ctx), dense.w));
    }
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
