// The paper's token form: units of five tokens (op1, op2, u1, u2, b), each computing b(u1(op1), u2(op2)).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dsl/ast.h"
#include "dsl/error.h"

namespace nos::dsl {

// One token. Operands are a primitive operand (with parameter), a constant, a short expression the paper lists
// as one operand (sign(g), sign(m), 0.001*w), or the result of an earlier unit (u0, u1, ...).
struct Token {
  Role role = Role::kOperand;
  NodePtr operand;     // role kOperand and unit_ref < 0: the operand's tree
  int unit_ref = -1;   // role kOperand: index of an earlier unit, or -1
  Prim prim = Prim::kIdentity;  // role kUnary / kBinary
  double param = std::numeric_limits<double>::quiet_NaN();  // clip's c, drop's p
  std::string text() const;     // as written in token form
};

struct Unit {
  Token op1, op2, u1, u2, b;
};

// Position names of a unit, for messages.
inline constexpr const char* kUnitSlots[5] = {"op1", "op2", "u1", "u2", "b"};

// Tree → units (the last is the rule). max_units > 0 limits the count: a rule that needs more is a RuleError
// (E034) naming how many it needs.
std::vector<Unit> to_units(const NodePtr& rule, int max_units = 0);

// The token form to show for a rule: its canonical tree's units, or the rule as written when that needs fewer
// (canonicalising can add units, e.g. by distributing a negation). Same max_units contract as to_units.
std::vector<Unit> to_units_fewest(const NodePtr& rule, int max_units = 0);

// Units → tree (dead units are ignored; a reference shares the earlier unit's tree).
NodePtr from_units(const std::vector<Unit>& units);

// "g m sign sign mul | u0 g exp id mul".
std::string units_to_text(const std::vector<Unit>& units);

// Reads token text (tokens separated by spaces, '|' between units optional). Never throws from try_; the other
// throws RuleError with every diagnostic.
struct TokenParseResult {
  std::vector<Unit> units;
  std::vector<Diagnostic> diagnostics;
};
TokenParseResult try_parse_tokens(std::string_view text);
std::vector<Unit> parse_tokens(std::string_view text, std::string_view source_name = "tokens");

// The controller's default vocabulary: every token text it may emit at each position, in a fixed order whose
// index is the token id. Unit references are not listed (a controller adds u0..u(k-1) at unit k).
struct Vocabulary {
  std::vector<std::string> operands;
  std::vector<std::string> unary;
  std::vector<std::string> binary;
};
const Vocabulary& default_vocabulary();

}  // namespace nos::dsl
