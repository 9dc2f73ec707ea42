// `nos export --to cpp`: a compiled rule as a standalone C++17 header, the elementwise kernel's host loop.
#include "optimizers/export.h"

#include <cctype>
#include <cmath>
#include <sstream>
#include <vector>

#include "common/error.h"
#include "dsl/cuda_codegen.h"
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

// A double as a C++ literal, parenthesised when negative.
std::string cpp_number(double x) {
  if (std::isnan(x)) return "std::numeric_limits<double>::quiet_NaN()";
  if (std::isinf(x)) {
    return x > 0 ? "std::numeric_limits<double>::infinity()" : "(-std::numeric_limits<double>::infinity())";
  }
  const std::string s = exporting::digits(x);
  return s[0] == '-' ? "(" + s + ")" : s;
}

// The first instruction whose primitive has `property`, or nullptr.
template <typename Property>
const dsl::Primitive* first_primitive(const dsl::Program& program, Property property) {
  for (const Instr& in : program.code()) {
    if (property(dsl::primitive(in.prim))) return &dsl::primitive(in.prim);
  }
  return nullptr;
}

// Instruction k of a scalar instruction as a C++ expression on doubles (its Primitive::fold).
std::string cpp_fold(const Instr& in, const std::string& x, const std::string& y) {
  switch (in.prim) {
    case Prim::kConst: return cpp_number(in.param);
    case Prim::kLD: return "nos_export::linear_decay(t, T)";
    case Prim::kCD: return "nos_export::cosine_decay(t, T, " + cpp_number(in.param) + ")";
    case Prim::kRD: return "nos_export::restart_decay(t, T, " + cpp_number(in.param) + ")";
    case Prim::kT: return "static_cast<double>(t + 1)";
    case Prim::kTotal: return "static_cast<double>(T)";
    case Prim::kIdentity:
    case Prim::kKeep: return x;
    case Prim::kNeg: return "-" + x;
    case Prim::kExp: return "std::exp(" + x + ")";
    case Prim::kLog: return "std::log(std::fabs(" + x + "))";
    case Prim::kSqrt: return "std::sqrt(std::fabs(" + x + "))";
    case Prim::kSign: return "nos_export::sign(" + x + ")";
    case Prim::kClip: return "nos_export::clip(" + x + ", " + cpp_number(in.param) + ")";
    case Prim::kAbs: return "std::fabs(" + x + ")";
    case Prim::kAdd: return x + " + " + y;
    case Prim::kSub: return x + " - " + y;
    case Prim::kMul: return x + " * " + y;
    case Prim::kDiv: return x + " / (" + y + " + 1e-08)";
    case Prim::kPow: return "std::pow(" + x + ", " + y + ")";
    case Prim::kMax: return "nos_export::max(" + x + ", " + y + ")";
    case Prim::kMin: return "nos_export::min(" + x + ", " + y + ")";
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

// The kernel body without its entry points (the CUDA __global__ kernel and the extern "C" host loop, which would be
// defined once per translation unit): the Args struct and the static inline element function.
std::string element_only(const dsl::ElementwiseKernel& kernel) {
  const std::string marker = "#if defined(__CUDACC_RTC__) || defined(__CUDACC__)\nextern \"C\"";
  const size_t at = kernel.body.find(marker);
  NOS_CHECK(at != std::string::npos, "kernel " << kernel.entry << " has no entry points to cut");
  return kernel.body.substr(0, at);
}

// The struct's scalars(): Args::s for one step as dsl::elementwise_launch fills it (−lr, the weight decay, four per
// average, the scalar instructions in code order, NAdam's and RAdam's factors).
std::string cpp_scalars(const dsl::Program& program, int expected) {
  std::ostringstream out;
  const std::vector<Instr>& code = program.code();
  const std::vector<bool> scalar = dsl::scalar_instructions(program);
  out << "  // Args::s for update t + 1 (t updates already applied), as nos fills it (dsl::elementwise_launch).\n"
      << "  static void scalars(double* s, double lr, long long t, long long T, const Options& o) {\n"
      << "    const long long step = t + 1;\n"
      << "    (void)step;\n    (void)T;\n"
      << "    s[0] = -lr;\n    s[1] = o.weight_decay;\n";
  int slot = 2;
  const std::vector<dsl::Average>& averages = program.averages();
  for (size_t i = 0; i < averages.size(); ++i) {
    const bool corrected = averages[i].moment != dsl::Moment::kPrev;
    out << "    {  // " << dsl::average_name(averages[i]) << "\n"
        << "      const nos_export::BiasCorrection c = nos_export::bias_correction(" << cpp_number(averages[i].beta)
        << ", step, " << (corrected ? "o.bias_correction" : "false") << ");\n"
        << "      s[" << slot << "] = " << cpp_number(averages[i].beta) << ";\n"
        << "      s[" << slot + 1 << "] = " << cpp_number(1.0 - averages[i].beta) << ";\n"
        << "      s[" << slot + 2 << "] = c.scale;\n"
        << "      s[" << slot + 3 << "] = c.sqrt_scale;\n"
        << "    }\n";
    slot += 4;
  }
  for (size_t k = 0; k < code.size(); ++k) {
    if (!scalar[k]) continue;
    const Instr& in = code[k];
    const bool regs = dsl::reads_registers(in.prim);
    const std::string x = regs && in.a >= 0 ? "v" + std::to_string(in.a) : "";
    const std::string y = regs && in.b >= 0 ? "v" + std::to_string(in.b) : "";
    out << "    const double v" << k << " = " << cpp_fold(in, x, y) << ";  // [" << k << "] "
        << instruction_comment(in) << "\n"
        << "    s[" << slot++ << "] = v" << k << ";\n";
  }
  for (size_t k = 0; k < code.size(); ++k) {
    if (!dsl::has_step_factors(code[k].prim)) continue;
    const dsl::Primitive& p = dsl::primitive(code[k].prim);
    out << "    nos_export::" << (code[k].prim == Prim::kNAdam ? "nadam" : "radam") << "_factors(step, "
        << cpp_number(p.reads[0].beta) << ", " << cpp_number(p.reads[1].beta) << ", s + " << slot << ");\n";
    slot += 4;
  }
  NOS_CHECK(slot == expected, "the exported scalars (" << slot << ") do not match the kernel's (" << expected << ")");
  out << "  }\n";
  return out.str();
}

// One step() overload: for `type` (float or double), through `plain` or, with weight decay, `decayed`.
std::string cpp_step(const std::string& type, const std::string& plain, const std::string& decayed) {
  std::ostringstream out;
  out << "  static void step(" << type << "* w, const " << type << "* g, " << type
      << "* const* state, long long n, double lr, long long t, long long total_steps) {\n"
      << "    step(w, g, state, n, lr, t, total_steps, Options());\n"
      << "  }\n"
      << "  static void step(" << type << "* w, const " << type << "* g, " << type
      << "* const* state, long long n, double lr, long long t, long long total_steps,\n"
      << "                   const Options& options) {\n"
      << "    check(lr, total_steps, options);\n"
      << "    double s[kScalars];\n"
      << "    scalars(s, lr, t, total_steps, options);\n"
      << "    if (options.decoupled_weight_decay > 0) {\n"
      << "      const " << type << " shrink = static_cast<" << type << ">(1.0 - lr * options.decoupled_weight_decay);\n"
      << "      for (long long i = 0; i < n; ++i) w[i] = w[i] * shrink;\n"
      << "    }\n"
      << "    if (options.weight_decay != 0) {\n"
      << "      " << decayed << "_args p{};\n"
      << "      fill(p, w, g, state, n, s);\n"
      << "      for (long long i = 0; i < n; ++i) " << decayed << "_element(p, i);\n"
      << "    } else {\n"
      << "      " << plain << "_args p{};\n"
      << "      fill(p, w, g, state, n, s);\n"
      << "      for (long long i = 0; i < n; ++i) " << plain << "_element(p, i);\n"
      << "    }\n"
      << "  }\n";
  return out.str();
}

// Why --to cpp cannot write `program`, as a UserError: a reduction over the whole tensor, or random numbers.
void check_cpp_exportable(const dsl::Program& program) {
  if (const dsl::Primitive* p = first_primitive(program, [](const dsl::Primitive& q) { return q.reduction; })) {
    throw UserError("rule '" + program.canonical_text() + "' has a reduction (" + std::string(p->name) +
                    ") over the whole tensor, which the elementwise loop of --to cpp cannot compute (nor the CUDA "
                    "kernel): export it --to pytorch, or run it in LibTorch through the nos CMake package");
  }
  if (const dsl::Primitive* p = first_primitive(program, [](const dsl::Primitive& q) { return q.random; })) {
    throw UserError("rule '" + program.canonical_text() + "' draws random numbers (" + std::string(p->name) +
                    "), which --to cpp cannot draw as nos does (ATen's generator streams): export it --to pytorch, "
                    "whose torch.Generator draws nos's numbers");
  }
}

// The header's opening comment: the rule, its hash and name, how the loop relates to nos's, and how to call it.
void cpp_banner(std::ostringstream& out, const ResolvedRule& rule, const dsl::Program& program,
                const std::string& class_name, const std::string& hash) {
  out << "// " << class_name << ": the optimizer rule " << program.canonical_text()
      << " found with nos, as one update over plain arrays.\n"
      << "//\n"
      << "// rule: " << program.canonical_text() << "\n"
      << "// hash: " << hash << " (as `nos rule` prints it)\n";
  if (!rule.name.empty()) out << "// named: " << rule.name << " = " << rule.text << "\n";
  out << "// Written by `nos export --to cpp`: standalone C++17, no LibTorch. The loop is the host form of the kernel\n"
      << "// nos generates for CUDA (dsl/cuda_codegen.h), so it follows nos's reference path operation by operation\n"
      << "// (to the math library's last bits). Compile it without contraction of a*b + c (-ffp-contract=off) to get\n"
      << "// nos's numbers. Usage, per parameter of n elements:\n"
      << "//   std::vector<float> state(" << class_name
      << "::kStateArrays * n, 0.0f);   // zero before the first step\n"
      << "//   float* arrays[" << class_name << "::kStateArrays + 1] = {...};            // state.data() + i * n\n"
      << "//   " << class_name << "::step(w, g, arrays, n, lr, t, total_steps);   // t = updates already applied\n";
}

}  // namespace

std::string export_cpp(const ResolvedRule& rule, const std::string& class_name) {
  const dsl::Program& program = exportable_program(rule);
  check_cpp_exportable(program);
  const std::string hash = program_hash(program);
  std::string lower;
  for (char c : class_name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string base = "nos_export_" + lower;
  const dsl::ElementwiseKernel f32 = dsl::elementwise_kernel(program, at::kFloat, false, base + "_f32");
  const dsl::ElementwiseKernel f32_wd = dsl::elementwise_kernel(program, at::kFloat, true, base + "_f32_wd");
  const dsl::ElementwiseKernel f64 = dsl::elementwise_kernel(program, at::kDouble, false, base + "_f64");
  const dsl::ElementwiseKernel f64_wd = dsl::elementwise_kernel(program, at::kDouble, true, base + "_f64_wd");
  const RuleOptions& d = rule.defaults;
  std::string names;
  for (const dsl::Average& a : program.averages()) names += quoted(dsl::average_name(a)) + ", ";
  const int averages = static_cast<int>(program.averages().size());

  std::ostringstream out;
  cpp_banner(out, rule, program, class_name, hash);
  out << "#pragma once\n\n#include <cmath>\n#include <limits>\n#include <stdexcept>\n#include <string>\n"
      << exporting::kCppHelpers << "\n"
      << f32.prelude << element_only(f32) << element_only(f32_wd) << element_only(f64) << element_only(f64_wd)
      << "\n"
      << "struct " << class_name << " {\n"
      << "  static constexpr const char* kRule = " << quoted(program.canonical_text()) << ";\n"
      << "  static constexpr const char* kHash = " << quoted(hash) << ";\n"
      << "  // The state arrays a parameter keeps (n elements each, zero at the start): the moving averages.\n"
      << "  static constexpr int kStateArrays = " << averages << ";\n"
      << "  static const char* state_name(int i) {\n"
      << "    static const char* const names[] = {" << names << "nullptr};\n"
      << "    return names[i];\n"
      << "  }\n"
      << "  static constexpr bool kUsesDecay = " << (program.uses_decay() ? "true" : "false")
      << ";  // then total_steps (T) must be > 0\n"
      << "  static constexpr double kDefaultLr = " << cpp_number(d.lr()) << ";\n"
      << "  // nos's RuleOptions besides lr and T, with this rule's defaults.\n"
      << "  struct Options {\n"
      << "    double weight_decay = " << cpp_number(d.weight_decay()) << ";  // coupled L2: g + weight_decay*w\n"
      << "    double decoupled_weight_decay = " << cpp_number(d.decoupled_weight_decay())
      << ";  // AdamW's w *= 1 - lr*decay first\n"
      << "    bool bias_correction = " << (d.bias_correction() ? "true" : "false")
      << ";  // m, v, y, vmax divided by 1 - beta^t\n"
      << "  };\n"
      << "  static constexpr int kScalars = " << f32.scalars << ";\n\n"
      << "  // One update of w (n elements) from g: the state arrays are updated in place, then w -= lr*direction.\n"
      << "  // t counts the updates already applied (0 at the first); total_steps is T, read by the decays.\n"
      << cpp_step("float", f32.entry, f32_wd.entry) << cpp_step("double", f64.entry, f64_wd.entry) << "\n"
      << "  static void check(double lr, long long total_steps, const Options& o) {\n"
      << "    if (!(lr >= 0) || !std::isfinite(lr)) throw std::invalid_argument(\"lr must be a finite number >= 0\");\n"
      << "    if (!(o.weight_decay >= 0) || !(o.decoupled_weight_decay >= 0)) {\n"
      << "      throw std::invalid_argument(\"weight decays must be >= 0\");\n"
      << "    }\n"
      << "    if (kUsesDecay && total_steps <= 0) {\n"
      << "      throw std::invalid_argument(std::string(\"rule \") + kRule +\n"
      << "                                  \" uses a decay: total_steps must be > 0\");\n"
      << "    }\n"
      << "  }\n"
      << cpp_scalars(program, f32.scalars)
      << "  template <typename Args, typename Real>\n"
      << "  static void fill(Args& p, Real* w, const Real* g, Real* const* state, long long n, const double* s) {\n"
      << "    p.n = n;\n    p.w = w;\n    p.g = g;\n"
      << "    for (int i = 0; i < kStateArrays; ++i) p.a[i] = state[i];\n"
      << "    for (int i = 0; i < kScalars; ++i) p.s[i] = s[i];\n"
      << "  }\n"
      << "};\n";
  return out.str();
}

}  // namespace nos::optimizers
