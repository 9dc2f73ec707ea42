// The token form: tree ↔ units of (op1, op2, u1, u2, b), token text reading and printing, default vocabulary.
#include "common/text.h"
#include "dsl/tokens.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <sstream>

#include "dsl/diagnostic_at.h"
#include "dsl/canonical.h"
#include "dsl/parse.h"

namespace nos::dsl {

// Defined in parse.cpp.
std::string suggest_name(std::string_view name, const std::vector<std::string_view>& candidates);
bool parse_number_literal(std::string_view text, double& value);

namespace {


// An operand the paper lists as one token although the tree spells it as a small expression: sign(g), sign(m(β))
// and c*w (the paper's 10^-4 w ... 10^-1 w).
bool is_compound_operand(const Node& n) {
  if (n.prim == Prim::kSign) return n.args[0]->prim == Prim::kG || n.args[0]->prim == Prim::kM;
  if (n.prim == Prim::kMul) return n.args[0]->is_const() && n.args[1]->prim == Prim::kW;
  return false;
}

bool is_leaf_operand(const Node& n) { return n.role() == Role::kOperand || is_compound_operand(n); }

Token operand_token(const NodePtr& n) {
  Token t;
  t.role = Role::kOperand;
  t.operand = n;
  return t;
}

Token ref_token(int unit) {
  Token t;
  t.role = Role::kOperand;
  t.unit_ref = unit;
  return t;
}

Token function_token(Prim prim, double param = kNaN) {
  Token t;
  t.role = primitive(prim).role;
  t.prim = prim;
  t.param = param;
  return t;
}

class Encoder {
 public:
  std::vector<Unit> units;

  int emit(const NodePtr& n) {
    const bool shareable = !is_random(*n);
    std::string key;
    if (shareable) {
      key = to_infix(*n);
      auto it = memo_.find(key);
      if (it != memo_.end()) return it->second;
    }
    Unit u;
    if (n->role() == Role::kBinary && !is_compound_operand(*n)) {
      slot(n->args[0], u.op1, u.u1);
      slot(n->args[1], u.op2, u.u2);
      u.b = function_token(n->prim);
    } else {
      // A lone operand or unary function: keep(u(x), x).
      slot(n, u.op1, u.u1);
      u.op2 = u.op1;
      u.u2 = function_token(Prim::kIdentity);
      u.b = function_token(Prim::kKeep);
    }
    units.push_back(u);
    int index = static_cast<int>(units.size()) - 1;
    if (shareable) memo_[key] = index;
    return index;
  }

 private:
  // One (operand, unary) pair of a unit for the tree x.
  void slot(const NodePtr& x, Token& op, Token& fn) {
    if (x->role() == Role::kUnary && is_leaf_operand(*x->args[0])) {
      op = operand_token(x->args[0]);
      fn = function_token(x->prim, x->param);
    } else if (is_leaf_operand(*x)) {
      op = operand_token(x);
      fn = function_token(Prim::kIdentity);
    } else if (x->role() == Role::kUnary) {
      op = ref_token(emit(x->args[0]));
      fn = function_token(x->prim, x->param);
    } else {
      op = ref_token(emit(x));
      fn = function_token(Prim::kIdentity);
    }
  }

  std::map<std::string, int> memo_;
};

NodePtr apply_unary(const Token& fn, NodePtr x) {
  if (fn.prim == Prim::kIdentity) return x;
  return make_unary(fn.prim, std::move(x), fn.param);
}

}  // namespace

std::string Token::text() const {
  switch (role) {
    case Role::kOperand: {
      if (unit_ref >= 0) return "u" + std::to_string(unit_ref);
      std::string s = to_infix(*operand);
      s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
      return s;
    }
    case Role::kUnary:
    case Role::kBinary: {
      const Primitive& p = primitive(prim);
      if (p.param.kind == ParamSpec::Kind::kNone) return std::string(p.token);
      return std::string(p.token) + "(" + format_number(param) + ")";
    }
  }
  return "?";
}

std::vector<Unit> to_units(const NodePtr& rule, int max_units) {
  Encoder enc;
  enc.emit(rule);
  if (max_units > 0 && static_cast<int>(enc.units.size()) > max_units) {
    std::string text = to_infix(*rule);
    Diagnostic d;
    d.code = "E034";
    d.message = "this rule needs " + std::to_string(enc.units.size()) + " units of 5 tokens; at most " +
                std::to_string(max_units) + " are allowed";
    d.length = static_cast<int>(std::max<size_t>(1, text.size()));
    throw RuleError({d}, text, "rule");
  }
  return enc.units;
}

std::vector<Unit> to_units_fewest(const NodePtr& rule, int max_units) {
  std::vector<Unit> canonical = to_units(canonicalize(rule), 0);
  std::vector<Unit> written = to_units(rule, 0);
  std::vector<Unit>& best = written.size() < canonical.size() ? written : canonical;
  if (max_units > 0 && static_cast<int>(best.size()) > max_units) return to_units(canonicalize(rule), max_units);
  return best;
}

NodePtr from_units(const std::vector<Unit>& units) {
  NOS_CHECK(!units.empty(), "from_units of no units");
  std::vector<NodePtr> results;
  auto operand = [&](const Token& t) -> NodePtr {
    if (t.unit_ref >= 0) {
      NOS_CHECK(t.unit_ref < static_cast<int>(results.size()), "unit reference u" << t.unit_ref << " out of order");
      return results[t.unit_ref];
    }
    NOS_CHECK(t.operand != nullptr, "operand token without a tree");
    return t.operand;
  };
  for (const Unit& u : units) {
    NodePtr a = apply_unary(u.u1, operand(u.op1));
    NodePtr b = apply_unary(u.u2, operand(u.op2));
    results.push_back(make_binary(u.b.prim, a, b));
  }
  return results.back();
}

std::string units_to_text(const std::vector<Unit>& units) {
  std::ostringstream out;
  for (size_t i = 0; i < units.size(); ++i) {
    if (i > 0) out << " | ";
    const Unit& u = units[i];
    out << u.op1.text() << ' ' << u.op2.text() << ' ' << u.u1.text() << ' ' << u.u2.text() << ' ' << u.b.text();
  }
  return out.str();
}

// ---------------------------------------------------------------------------------------------------------------
// Reading token text

namespace {

struct Piece {
  std::string_view text;
  int begin;
};

class TokenReader {
 public:
  explicit TokenReader(std::string_view text) : text_(text) {}

  TokenParseResult run() {
    TokenParseResult result;
    if (text_.size() > kMaxRuleLength) {
      add(0, 1, "E007", "token text is " + std::to_string(text_.size()) + " characters long; at most " +
                            std::to_string(kMaxRuleLength) + " are accepted");
      result.diagnostics = std::move(diags_);
      return result;
    }
    std::vector<Piece> pieces = split();
    if (pieces.empty()) {
      add(0, 1, "E035", "no tokens: write units of five tokens such as 'g g id id keep'");
    }
    std::vector<Unit> units;
    Unit current;
    Token* slots[5] = {&current.op1, &current.op2, &current.u1, &current.u2, &current.b};
    int position = 0;
    for (const Piece& piece : pieces) {
      if (piece.text == "|") {
        if (position != 0) {
          add(piece.begin, piece.begin + 1, "E036",
              "'|' inside unit " + std::to_string(units.size()) + " after " + std::to_string(position) +
                  " of its 5 tokens");
        }
        continue;
      }
      const int unit_index = static_cast<int>(units.size());
      read_token(piece, position, unit_index, *slots[position]);
      if (++position == 5) {
        units.push_back(current);
        current = Unit{};
        position = 0;
      }
    }
    if (position != 0) {
      add(static_cast<int>(text_.size()), static_cast<int>(text_.size()) + 1, "E030",
          "the last unit has " + std::to_string(position) + " of its 5 tokens (op1 op2 u1 u2 b); missing " +
              kUnitSlots[position]);
    }
    if (diags_.empty()) result.units = std::move(units);
    result.diagnostics = std::move(diags_);
    return result;
  }

 private:
  void add(int begin, int end, const char* code, std::string message) {
    diags_.push_back(diagnostic_at(text_, begin, end, code, std::move(message)));
  }

  // Tokens are separated by blanks or commas; '|' stands alone between units. Parentheses group, so
  // "clip(1e-05)" and "sign(m(0.8))" are one token each.
  std::vector<Piece> split() const {
    std::vector<Piece> out;
    size_t i = 0;
    while (i < text_.size()) {
      char c = text_[i];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',') {
        ++i;
        continue;
      }
      if (c == '|') {
        out.push_back({text_.substr(i, 1), static_cast<int>(i)});
        ++i;
        continue;
      }
      size_t j = i;
      int depth = 0;
      while (j < text_.size()) {
        char d = text_[j];
        if (d == '(') ++depth;
        if (d == ')') --depth;
        if (depth <= 0 && (d == ' ' || d == '\t' || d == '\n' || d == '\r' || d == '|' || (d == ',' && depth == 0))) {
          break;
        }
        ++j;
      }
      out.push_back({text_.substr(i, j - i), static_cast<int>(i)});
      i = j;
    }
    return out;
  }

  static std::vector<std::string_view> function_names(Role role) {
    std::vector<std::string_view> out;
    for (const Primitive& p : primitives()) {
      if (p.role == role) out.push_back(p.token);
    }
    return out;
  }

  // Where a token is read: its piece of text and where it ends, the role its position takes, and the position's
  // name for messages ("u1 of unit 0").
  struct Place {
    const Piece& piece;
    int end;
    Role expected;
    std::string where;
    int unit_index;
  };

  void read_token(const Piece& piece, int position, int unit_index, Token& out) {
    const Place at{piece, piece.begin + static_cast<int>(piece.text.size()),
                   position < 2 ? Role::kOperand : position < 4 ? Role::kUnary : Role::kBinary,
                   std::string(kUnitSlots[position]) + " of unit " + std::to_string(unit_index), unit_index};
    std::string_view text = piece.text;
    // Function tokens: name or name(number).
    std::string_view name = text.substr(0, text.find('('));
    const Primitive* fn = find_by_token(name);
    if (fn != nullptr && fn->role == Role::kOperand) fn = nullptr;
    if (fn != nullptr && fn->prim == Prim::kSign && name.size() < text.size()) fn = nullptr;  // sign(g): operand
    if (fn != nullptr) return read_function(at, *fn, name, out);
    // Unit references: u0, u1, ...
    if (text.size() >= 2 && text[0] == 'u' &&
        std::all_of(text.begin() + 1, text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return read_unit_ref(at, out);
    }
    read_operand(at, name, out);
  }

  // A unary or binary function token, name or name(number).
  void read_function(const Place& at, const Primitive& fn, std::string_view name, Token& out) {
    std::string_view text = at.piece.text;
    if (fn.role != at.expected) {
      add(at.piece.begin, at.end, "E032",
          "'" + std::string(text) + "' is a " + (fn.role == Role::kUnary ? "unary" : "binary") + " function, but " +
              at.where + " must be " + role_name(at.expected));
      return;
    }
    double param = kNaN;
    bool has_param = name.size() < text.size();
    if (fn.param.kind == ParamSpec::Kind::kNone) {
      if (has_param) {
        add(at.piece.begin, at.end, "E016", "'" + std::string(name) + "' takes no parameter");
        return;
      }
    } else {
      std::string_view inner;
      if (has_param && text.back() == ')') inner = text.substr(name.size() + 1, text.size() - name.size() - 2);
      if (!has_param || !parse_number_literal(inner, param)) {
        add(at.piece.begin, at.end, "E014",
            "'" + std::string(name) + "' needs its " + std::string(fn.param.name) + " as a number, as in " +
                std::string(name) + "(" + format_number(fn.vocabulary.empty() ? 0.5 : fn.vocabulary[0]) + ")");
        return;
      }
      if (!fn.param.contains(param)) {
        add(at.piece.begin, at.end, "E015",
            "the " + std::string(fn.param.name) + " of '" + std::string(name) + "' must satisfy " +
                std::string(fn.param.range_text) + ", got " + format_number(param));
        return;
      }
    }
    out = function_token(fn.prim, param);
  }

  // A reference to an earlier unit, uK.
  void read_unit_ref(const Place& at, Token& out) {
    std::string_view text = at.piece.text;
    int ref = -1;
    auto res = std::from_chars(text.data() + 1, text.data() + text.size(), ref);
    if (at.expected != Role::kOperand) {
      add(at.piece.begin, at.end, "E032",
          "'" + std::string(text) + "' is an operand, but " + at.where + " must be " + role_name(at.expected));
      return;
    }
    if (res.ec != std::errc() || ref >= at.unit_index) {
      add(at.piece.begin, at.end, "E033",
          "'" + std::string(text) + "' in unit " + std::to_string(at.unit_index) +
              " refers to a unit not computed yet (units so far: " +
              (at.unit_index == 0 ? std::string("none") : "u0..u" + std::to_string(at.unit_index - 1)) + ")");
      return;
    }
    out = ref_token(ref);
  }

  // An operand written as infix (g, m(0.8), 2, sign(g), 0.001*w), or the diagnostic for what it is instead.
  void read_operand(const Place& at, std::string_view name, Token& out) {
    std::string_view text = at.piece.text;
    ParseResult parsed = try_parse(text);
    bool operand = parsed.diagnostics.empty() && is_leaf_operand(*parsed.rule);
    if (!operand) {
      std::vector<std::string_view> candidates = function_names(at.expected);
      if (at.expected == Role::kOperand) {
        candidates.clear();
        for (const Primitive& p : primitives()) {
          if (p.role == Role::kOperand && !p.name.empty()) candidates.push_back(p.name);
        }
      }
      std::string hint = suggest_name(name, candidates);
      if (parsed.diagnostics.empty() && at.expected == Role::kOperand) {
        add(at.piece.begin, at.end, "E032",
            "'" + std::string(text) + "' is an expression, but " + at.where +
                " must be one operand (write it as its own unit and refer to it as uK)");
      } else if (parsed.diagnostics.empty()) {
        add(at.piece.begin, at.end, "E032",
            "'" + std::string(text) + "' is an operand, but " + at.where + " must be " + role_name(at.expected));
      } else {
        add(at.piece.begin, at.end, "E031",
            "unknown token '" + std::string(text) + "' at " + at.where +
                (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
      }
      return;
    }
    if (at.expected != Role::kOperand) {
      add(at.piece.begin, at.end, "E032",
          "'" + std::string(text) + "' is an operand, but " + at.where + " must be " + role_name(at.expected));
      return;
    }
    out = operand_token(parsed.rule);
  }

  static std::string role_name(Role r) {
    switch (r) {
      case Role::kOperand: return "an operand";
      case Role::kUnary: return "a unary function";
      case Role::kBinary: return "a binary function";
    }
    return "?";
  }

  std::string_view text_;
  std::vector<Diagnostic> diags_;
};

}  // namespace

TokenParseResult try_parse_tokens(std::string_view text) { return TokenReader(text).run(); }

std::vector<Unit> parse_tokens(std::string_view text, std::string_view source_name) {
  TokenParseResult r = try_parse_tokens(text);
  if (!r.diagnostics.empty()) throw RuleError(std::move(r.diagnostics), std::string(text), std::string(source_name));
  return r.units;
}

const Vocabulary& default_vocabulary() {
  static const Vocabulary vocab = [] {
    Vocabulary v;
    for (const Primitive& p : primitives()) {
      if (!p.default_vocabulary) continue;
      switch (p.role) {
        case Role::kOperand:
          if (p.prim == Prim::kConst) {
            for (double c : p.vocabulary) v.operands.push_back(format_number(c));
          } else if (p.prim == Prim::kW) {
            // The paper's weight operands 10^-4 w ... 10^-1 w.
            for (double c : {1e-4, 1e-3, 1e-2, 1e-1}) v.operands.push_back(format_number(c) + "*w");
          } else {
            v.operands.emplace_back(p.name);
          }
          if (p.prim == Prim::kG) v.operands.emplace_back("sign(g)");
          if (p.prim == Prim::kM) v.operands.emplace_back("sign(m)");
          break;
        case Role::kUnary:
          if (p.vocabulary.empty()) {
            v.unary.emplace_back(p.token);
          } else {
            for (double c : p.vocabulary) v.unary.push_back(std::string(p.token) + "(" + format_number(c) + ")");
          }
          break;
        case Role::kBinary: v.binary.emplace_back(p.token); break;
      }
    }
    return v;
  }();
  return vocab;
}

}  // namespace nos::dsl
