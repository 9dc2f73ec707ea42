// Infix parser: text → tree, with every diagnostic found in one pass.
#pragma once

#include <string_view>
#include <vector>

#include "dsl/ast.h"
#include "dsl/error.h"

namespace nos::dsl {

// The most nested parentheses/calls a rule may have (guards the recursive parser and every pass after it).
inline constexpr int kMaxDepth = 64;
// The longest rule text accepted.
inline constexpr size_t kMaxRuleLength = 4096;

struct ParseResult {
  NodePtr rule;                          // null when diagnostics is not empty
  std::vector<Diagnostic> diagnostics;
};

// Never throws on any input; reports lexical, syntax and semantic errors (unknown names with suggestions,
// wrong arity, parameters out of range).
ParseResult try_parse(std::string_view text);

// Throws RuleError with all diagnostics; `source_name` prefixes each (`rule:1:14: error[E012]: ...`).
NodePtr parse(std::string_view text, std::string_view source_name = "rule");

// Infix text of a tree (any tree; canonical_text prints the canonical form), with minimal parentheses.
std::string to_infix(const Node& n);

}  // namespace nos::dsl
