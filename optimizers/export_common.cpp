// The export writers' shared helpers: literals, the rule's program and hash, the instruction comments.
#include "optimizers/export_common.h"

#include <cmath>
#include <cstdio>
#include <variant>

#include "common/error.h"
#include "common/overloaded.h"
#include "common/text.h"
#include "dsl/canonical.h"
#include "dsl/parse.h"
#include "dsl/primitives.h"

namespace nos::optimizers::exporting {

using dsl::Prim;
using Instr = dsl::Program::Instr;

std::string digits(double x) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", x);
  std::string s = buffer;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string program_hash(const dsl::Program& program) {
  return dsl::hash_hex(dsl::rule_hash(dsl::parse(program.canonical_text())));
}

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

}  // namespace nos::optimizers::exporting
