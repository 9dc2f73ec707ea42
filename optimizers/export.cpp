// `nos export`'s writers: a compiled rule as a PyTorch optimizer module, as CUDA source and as a standalone C++ header.
#include "optimizers/export.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

#include "common/error.h"
#include "common/overloaded.h"
#include "common/text.h"
#include "dsl/canonical.h"
#include "dsl/cuda_codegen.h"
#include "dsl/parse.h"
#include "dsl/primitives.h"
#include "dsl/program.h"

namespace nos::optimizers {

using dsl::Prim;
using Instr = dsl::Program::Instr;

namespace {

// ---- shared ----------------------------------------------------------------------------------------------------

// A double with 17 significant digits (reads back to the same value), always with a '.' or an exponent.
std::string digits(double x) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", x);
  std::string s = buffer;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

// A double as a Python literal (math.inf and math.nan for the non-finite).
std::string py_number(double x) {
  if (std::isnan(x)) return "math.nan";
  if (std::isinf(x)) return x > 0 ? "math.inf" : "-math.inf";
  return digits(x);
}

// A double as a C++ literal, parenthesised when negative.
std::string cpp_number(double x) {
  if (std::isnan(x)) return "std::numeric_limits<double>::quiet_NaN()";
  if (std::isinf(x)) {
    return x > 0 ? "std::numeric_limits<double>::infinity()" : "(-std::numeric_limits<double>::infinity())";
  }
  const std::string s = digits(x);
  return s[0] == '-' ? "(" + s + ")" : s;
}

// A string as a double-quoted literal (Python and C++ read it alike: only '\\' and '"' are escaped; rule text is ASCII
// without control characters).
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The rule's hash as `nos rule` prints it: FNV-1a of the canonical text (the canonical text reparses to itself).
std::string program_hash(const dsl::Program& program) {
  return dsl::hash_hex(dsl::rule_hash(dsl::parse(program.canonical_text())));
}

bool is_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// Python's keywords and C++'s, which a class name must not be.
bool is_keyword(const std::string& s) {
  static const char* const kWords[] = {
      "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
      "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
      "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "auto", "bool", "char", "const",
      "delete", "double", "enum", "float", "int", "long", "namespace", "new", "operator", "private", "protected",
      "public", "short", "signed", "sizeof", "static", "struct", "switch", "template", "this", "throw", "typedef",
      "typename", "union", "unsigned", "using", "virtual", "void", "volatile"};
  for (const char* w : kWords) {
    if (s == w) return true;
  }
  return false;
}

// Why `name` cannot name the exported class ("" when it can): a keyword is refused by is_keyword; these are names
// the generated code itself uses or that its language reserves, so a class of that name would not import or compile.
std::string class_name_problem(const std::string& name) {
  if (!is_identifier(name) || is_keyword(name)) {
    return "letters, digits and '_', not starting with a digit, not a Python or C++ keyword";
  }
  // A leading underscore: the Python module's helpers (_exp, _sign, ...) and, in C++, identifiers reserved to the
  // implementation (_X, and any with a double underscore).
  if (name[0] == '_' || name.find("__") != std::string::npos) {
    return "names starting with '_' or holding '__' are the generated helpers' or reserved to the compiler";
  }
  // What the Python module imports and every builtin its methods may call.
  static const char* const kPython[] = {"torch", "math",
      "ArithmeticError", "AssertionError", "AttributeError", "BaseException", "BaseExceptionGroup",
      "BlockingIOError", "BrokenPipeError", "BufferError", "BytesWarning", "ChildProcessError",
      "ConnectionAbortedError", "ConnectionError", "ConnectionRefusedError", "ConnectionResetError",
      "DeprecationWarning", "EOFError", "Ellipsis", "EncodingWarning", "EnvironmentError", "Exception",
      "ExceptionGroup", "False", "FileExistsError", "FileNotFoundError", "FloatingPointError", "FutureWarning",
      "GeneratorExit", "IOError", "ImportError", "ImportWarning", "IndentationError", "IndexError",
      "InterruptedError", "IsADirectoryError", "KeyError", "KeyboardInterrupt", "LookupError", "MemoryError",
      "ModuleNotFoundError", "NameError", "None", "NotADirectoryError", "NotImplemented", "NotImplementedError",
      "OSError", "OverflowError", "PendingDeprecationWarning", "PermissionError", "ProcessLookupError",
      "RecursionError", "ReferenceError", "ResourceWarning", "RuntimeError", "RuntimeWarning", "StopAsyncIteration",
      "StopIteration", "SyntaxError", "SyntaxWarning", "SystemError", "SystemExit", "TabError", "TimeoutError",
      "True", "TypeError", "UnboundLocalError", "UnicodeDecodeError", "UnicodeEncodeError", "UnicodeError",
      "UnicodeTranslateError", "UnicodeWarning", "UserWarning", "ValueError", "Warning", "ZeroDivisionError", "abs",
      "aiter", "all", "anext", "any", "ascii", "bin", "bool", "breakpoint", "bytearray", "bytes", "callable", "chr",
      "classmethod", "compile", "complex", "copyright", "credits", "delattr", "dict", "dir", "divmod", "enumerate",
      "eval", "exec", "exit", "filter", "float", "format", "frozenset", "getattr", "globals", "hasattr", "hash",
      "help", "hex", "id", "input", "int", "isinstance", "issubclass", "iter", "len", "license", "list", "locals",
      "map", "max", "memoryview", "min", "next", "object", "oct", "open", "ord", "pow", "print", "property", "quit",
      "range", "repr", "reversed", "round", "set", "setattr", "slice", "sorted", "staticmethod", "str", "sum",
      "super", "tuple", "type", "vars", "zip"};
  // C++ keywords beyond is_keyword's, what the header's standard headers declare at global scope, and their macros.
  static const char* const kCpp[] = {
      "alignas", "alignof", "asm", "case", "catch", "char8_t", "char16_t", "char32_t", "co_await", "co_return",
      "co_yield", "concept", "consteval", "constexpr", "constinit", "const_cast", "decltype", "default", "do",
      "dynamic_cast", "explicit", "export", "extern", "false", "friend", "goto", "inline", "mutable", "noexcept",
      "nullptr", "register", "reinterpret_cast", "requires", "static_assert", "static_cast", "thread_local", "true",
      "typeid", "wchar_t", "and_eq", "bitand", "bitor", "compl", "not_eq", "or_eq", "xor", "xor_eq", "std", "size_t",
      "ptrdiff_t", "max_align_t", "nullptr_t", "int8_t", "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t",
      "uint32_t", "uint64_t", "intptr_t", "uintptr_t", "NULL", "NAN", "INFINITY", "HUGE_VAL", "HUGE_VALF", "EOF",
      "assert", "errno", "main"};
  for (const char* w : kPython) {
    if (name == w) return "'" + name + "' is what the Python module uses (an import or a builtin)";
  }
  for (const char* w : kCpp) {
    if (name == w) return "'" + name + "' is a C++ keyword or a name the C++ header's standard headers declare";
  }
  return "";
}

// The program of a rule every target can start from: a compiled DSL rule. A learned optimizer and a native row are
// UserErrors naming what they are.
const dsl::Program& exportable_program(const ResolvedRule& rule) {
  return std::visit(
      Overloaded{[&](const LearnedRule& learned) -> const dsl::Program& {
                   throw UserError("rule '" + rule.text + "' is a learned optimizer (lstm:, an LSTM network read from " +
                                   learned.path + "): nos export writes DSL rules only; run it in LibTorch through the "
                                   "nos CMake package (optimizers::LstmOptimizer)");
                 },
                 [&](const NativeClass&) -> const dsl::Program& {
                   const NativeRule* native = find_native_rule(rule.name);
                   const std::string twin = native != nullptr ? native->twin : std::string("its compiled twin");
                   throw UserError("rule '" + rule.name + "' is LibTorch's own class (" + rule.text +
                                   "), not a DSL rule: export its compiled twin '" + twin + "' instead");
                 },
                 [](const CompiledRule& compiled) -> const dsl::Program& {
                   NOS_CHECK(compiled.program != nullptr, "export of a resolved rule without a program");
                   return *compiled.program;
                 }},
      rule.kind);
}

// The first instruction whose primitive has `property`, or nullptr.
template <typename Property>
const dsl::Primitive* first_primitive(const dsl::Program& program, Property property) {
  for (const Instr& in : program.code()) {
    if (property(dsl::primitive(in.prim))) return &dsl::primitive(in.prim);
  }
  return nullptr;
}

// The instruction as written in a comment: "m(0.9)", "sign(r2)", "mul(r3, r4)".
std::string instruction_comment(const Instr& in) {
  const dsl::Primitive& p = dsl::primitive(in.prim);
  const bool has_param = !std::isnan(in.param) && p.param.kind != dsl::ParamSpec::Kind::kNone;
  const std::string param = has_param ? nos::format_number(in.param) : std::string();
  switch (p.role) {
    case dsl::Role::kOperand:
      if (in.prim == Prim::kConst) return param;
      return std::string(p.name) + (has_param ? "(" + param + ")" : "");
    case dsl::Role::kUnary:
      return std::string(p.token) + "(r" + std::to_string(in.a) + (has_param ? ", " + param : "") + ")";
    case dsl::Role::kBinary:
      return std::string(p.token) + "(r" + std::to_string(in.a) + ", r" + std::to_string(in.b) + ")";
  }
  return "";
}

// ---- PyTorch ---------------------------------------------------------------------------------------------------

// The helpers every exported module carries: C's arithmetic on Python floats for the scalar instructions (Python's
// math raises where C returns inf or NaN), the decays, the bias correction and the NAdam/RAdam factors, each as nos
// computes it (dsl/primitives.cpp, dsl/update_math.h).
const char* kPythonHelpers = R"PY(

# ---- scalar arithmetic as nos folds it in double (dsl/primitives.cpp): IEEE results where Python's math raises ----


def _exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _log(x):
    x = abs(x)
    return -math.inf if x == 0.0 else math.log(x)


def _sign(x):
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


def _clip(x, c):
    return -c if x < -c else (c if c < x else x)


def _div(x, y):
    d = y + 1e-08
    if d == 0.0:
        return math.nan if x != x or x == 0.0 else math.copysign(math.inf, x)
    return x / d


def _odd(y):
    return math.isfinite(y) and math.fmod(y, 2.0) in (1.0, -1.0)


def _pow(x, y):
    try:
        return math.pow(x, y)
    except OverflowError:
        return -math.inf if x < 0 and _odd(y) else math.inf
    except ValueError:
        if x == 0.0:
            return math.copysign(math.inf, x) if _odd(y) else math.inf
        return math.nan


def _max(x, y):
    return math.nan if x != x or y != y else (y if x < y else x)


def _min(x, y):
    return math.nan if x != x or y != y else (y if y < x else x)


# ---- the decays of Bello et al. 2017 with TensorFlow's sign_decay.py formulas: t clipped to T ----


def _linear_decay(t, T):
    s = float(min(t, T))
    return max(0.0, (float(T) - s) / float(T))


def _cosine_decay(t, T, n):
    s = float(min(t, T))
    return 0.5 * (1.0 + math.cos(math.pi * 2.0 * n * s / float(T)))


def _restart_decay(t, T, n):
    s = float(min(t, T))
    return 0.5 * (1.0 + math.cos(math.pi * (math.fmod(n * s, float(T)) / float(T))))


# ---- per-step factors (nos's dsl/update_math.h) ----


def _bias_correction(beta, step, enabled):
    """(1/(1 - beta^step), 1/sqrt(1 - beta^step)); (1.0, 1.0) when off or for beta 0 (Kingma & Ba 2015, sec. 3)."""
    if not enabled:
        return 1.0, 1.0
    c = 1.0 - math.pow(beta, float(step))
    if c == 1.0:
        return 1.0, 1.0
    return 1.0 / c, 1.0 / math.sqrt(c)


def _nadam_factors(step, beta1, beta2, momentum_decay=4e-3):
    """NAdam's (grad, momentum, 1 - beta2^step, 0) as torch.optim.NAdam in PyTorch 2 (Dozat 2016)."""

    def mu(k):
        return beta1 * (1.0 - 0.5 * math.pow(0.96, k * momentum_decay))

    product = 1.0
    k = 1
    while k <= step and product >= 2.0 ** -60:
        product *= mu(k)
        k += 1
    following = mu(step + 1)
    return ((1.0 - mu(step)) / (1.0 - product), following / (1.0 - product * following),
            1.0 - math.pow(beta2, float(step)), 0.0)


def _radam_factors(step, beta1, beta2):
    """RAdam's (rectified, r, sqrt(1 - beta2^step), 1 - beta1^step) as torch.optim.RAdam (Liu et al. 2020)."""
    power = math.pow(beta2, float(step))
    correction = 1.0 - power
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho = rho_inf - 2.0 * step * power / correction
    rectified, rect = 0.0, 1.0
    if rho > 5.0:
        rectified = 1.0
        rect = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    return rectified, rect, math.sqrt(correction), 1.0 - math.pow(beta1, float(step))


def _trust(x, w):
    """x * |w|/|x| over the tensor, x itself where either norm is 0 (LARS/LAMB's trust ratio)."""
    nw = w.norm()
    nx = x.norm()
    return x * torch.where(nw.gt(0).logical_and(nx.gt(0)), nw / nx, torch.ones_like(nw))
)PY";

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

// The methods of a random rule's optimizer: its generators, saved in state_dict beside the parameters' state.
const char* kPythonGenerators = R"PY(
    def _generator(self, device, seed):
        # One generator per (device, seed), seeded as nos seeds its own: a fresh torch.Generator.manual_seed(seed).
        key = (str(device), int(seed))
        gen = self._generators.get(key)
        if gen is None:
            gen = torch.Generator(device=device)
            gen.manual_seed(int(seed))
            self._generators[key] = gen
        return gen

    def state_dict(self):
        state = super().state_dict()
        state["generators"] = [(device, seed, gen.get_state()) for (device, seed), gen in self._generators.items()]
        return state

    def load_state_dict(self, state_dict):
        generators = state_dict.get("generators", [])
        super().load_state_dict(state_dict)
        self._generators = {}
        for device, seed, gen_state in generators:
            self._generator(torch.device(device), seed).set_state(gen_state)
)PY";

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
  if (program.is_random()) out << kPythonGenerators;
  return out.str();
}

// ---- C++ header ------------------------------------------------------------------------------------------------

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

// The helpers every exported header shares (guarded, so several headers go into one translation unit): nos's folds
// of the decays and functions (dsl/primitives.cpp), the bias correction and NAdam's and RAdam's factors
// (dsl/update_math.h), in the same arithmetic.
const char* kCppHelpers = R"CPP(
#ifndef NOS_EXPORT_HELPERS
#define NOS_EXPORT_HELPERS
namespace nos_export {
constexpr double kPi = 3.14159265358979323846;
// Bello et al. 2017's decays with TensorFlow's sign_decay.py formulas: t clipped to T.
inline double linear_decay(long long t, long long T) {
  const double s = static_cast<double>(t < T ? t : T);
  const double x = (static_cast<double>(T) - s) / static_cast<double>(T);
  return 0.0 < x ? x : 0.0;
}
inline double cosine_decay(long long t, long long T, double n) {
  const double s = static_cast<double>(t < T ? t : T);
  return 0.5 * (1.0 + std::cos(kPi * 2.0 * n * s / static_cast<double>(T)));
}
inline double restart_decay(long long t, long long T, double n) {
  const double s = static_cast<double>(t < T ? t : T);
  return 0.5 * (1.0 + std::cos(kPi * (std::fmod(n * s, static_cast<double>(T)) / static_cast<double>(T))));
}
inline double sign(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }
inline double clip(double x, double c) { return x < -c ? -c : (c < x ? c : x); }
inline double max(double x, double y) {
  return std::isnan(x) || std::isnan(y) ? std::numeric_limits<double>::quiet_NaN() : (x < y ? y : x);
}
inline double min(double x, double y) {
  return std::isnan(x) || std::isnan(y) ? std::numeric_limits<double>::quiet_NaN() : (y < x ? y : x);
}
// Adam's bias correction at update number `step` (Kingma & Ba 2015, sec. 3): 1/(1 - beta^step) and its square root.
struct BiasCorrection {
  double scale = 1;
  double sqrt_scale = 1;
};
inline BiasCorrection bias_correction(double beta, long long step, bool enabled) {
  BiasCorrection c;
  if (!enabled) return c;
  const double correction = 1.0 - std::pow(beta, static_cast<double>(step));
  c.scale = 1.0 / correction;
  c.sqrt_scale = 1.0 / std::sqrt(correction);
  return c;
}
// NAdam's factors (grad, momentum, 1 - beta2^step, 0) as torch.optim.NAdam in PyTorch 2 (Dozat 2016).
inline void nadam_factors(long long step, double beta1, double beta2, double* f) {
  auto mu = [&](long long k) { return beta1 * (1.0 - 0.5 * std::pow(0.96, static_cast<double>(k) * 4e-3)); };
  double product = 1;
  for (long long k = 1; k <= step && product >= 0x1p-60; ++k) product *= mu(k);
  const double next = mu(step + 1);
  f[0] = (1.0 - mu(step)) / (1.0 - product);
  f[1] = next / (1.0 - product * next);
  f[2] = 1.0 - std::pow(beta2, static_cast<double>(step));
  f[3] = 0.0;
}
// RAdam's factors (rectified, r, sqrt(1 - beta2^step), 1 - beta1^step) as torch.optim.RAdam (Liu et al. 2020).
inline void radam_factors(long long step, double beta1, double beta2, double* f) {
  const double power = std::pow(beta2, static_cast<double>(step));
  const double correction = 1.0 - power;
  const double rho_inf = 2.0 / (1.0 - beta2) - 1.0;
  const double rho = rho_inf - 2.0 * static_cast<double>(step) * power / correction;
  f[0] = 0.0;
  f[1] = 1.0;
  if (rho > 5.0) {
    f[0] = 1.0;
    f[1] = std::sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho));
  }
  f[2] = std::sqrt(correction);
  f[3] = 1.0 - std::pow(beta1, static_cast<double>(step));
}
}  // namespace nos_export
#endif  // NOS_EXPORT_HELPERS
)CPP";

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

}  // namespace

ExportTarget export_target(std::string_view name) {
  if (name == "pytorch") return ExportTarget::kPyTorch;
  if (name == "cuda") return ExportTarget::kCuda;
  if (name == "cpp") return ExportTarget::kCpp;
  throw UserError("--to: expected pytorch, cuda or cpp, got '" + std::string(name) + "'");
}

std::string default_class_name(const ResolvedRule& rule) {
  if (rule.name.empty() || rule.learned() != nullptr) return "NosRule";
  std::string out;
  bool upper = true;
  for (char c : rule.name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "Nos" + out;
  return out;
}

std::string export_rule(const ResolvedRule& rule, const ExportOptions& options) {
  exportable_program(rule);
  const std::string name = options.class_name.empty() ? default_class_name(rule) : options.class_name;
  const std::string problem = class_name_problem(name);
  if (!problem.empty()) throw UserError("--class-name: '" + name + "' is not a usable class name (" + problem + ")");
  switch (options.target) {
    case ExportTarget::kPyTorch: return export_pytorch(rule, name);
    case ExportTarget::kCuda: return export_cuda(rule, options.dtype, options.weight_decay);
    case ExportTarget::kCpp: return export_cpp(rule, name);
  }
  NOS_CHECK(false, "unknown export target");
  return "";
}

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
      << kPythonHelpers << python_class(rule, program, class_name, hash);
  return out.str();
}

std::string export_cuda(const ResolvedRule& rule, at::ScalarType dtype, bool weight_decay) {
  const dsl::Program& program = exportable_program(rule);
  // dsl::elementwise_kernel refuses a reduction (norm, trust) with a UserError naming it.
  return dsl::elementwise_kernel(program, dtype, weight_decay).source();
}

std::string export_cpp(const ResolvedRule& rule, const std::string& class_name) {
  const dsl::Program& program = exportable_program(rule);
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
      << "//   " << class_name << "::step(w, g, arrays, n, lr, t, total_steps);   // t = updates already applied\n"
      << "#pragma once\n\n#include <cmath>\n#include <limits>\n#include <stdexcept>\n#include <string>\n"
      << kCppHelpers << "\n"
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
