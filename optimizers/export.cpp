// `nos export`: the targets by name, the class name's checks, and export_rule, which picks a target's writer.
#include "optimizers/export.h"

#include <cctype>
#include <string>

#include "common/error.h"
#include "dsl/cuda_codegen.h"
#include "dsl/program.h"
#include "optimizers/export_common.h"

namespace nos::optimizers {

using exporting::exportable_program;

namespace {

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

std::string export_cuda(const ResolvedRule& rule, at::ScalarType dtype, bool weight_decay) {
  const dsl::Program& program = exportable_program(rule);
  // dsl::elementwise_kernel refuses a reduction (norm, trust) with a UserError naming it.
  return dsl::elementwise_kernel(program, dtype, weight_decay).source();
}

}  // namespace nos::optimizers
