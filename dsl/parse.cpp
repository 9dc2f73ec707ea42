// Infix parser (lexer + recursive descent with diagnostics) and the infix printer.
#include "dsl/parse.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <charconv>
#include <cmath>
#include <sstream>

#include "common/text.h"
#include "dsl/diagnostic_at.h"

namespace nos::dsl {

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Lexer

enum class Tok { kNumber, kIdent, kLParen, kRParen, kComma, kPlus, kMinus, kStar, kSlash, kCaret, kEnd };

struct Lexeme {
  Tok kind;
  int begin;  // byte offset
  int end;
  double number = 0;
  std::string_view text;
};

bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

// Shared with the token reader: the closest known name within distance 2, or "".
std::string suggest_name(std::string_view name, const std::vector<std::string_view>& candidates) {
  return closest_name(name, candidates);
}

// Parses a whole string as one number literal (digits, '.', exponent); false if it is not exactly one.
bool parse_number_literal(std::string_view text, double& value) {
  if (text.empty()) return false;
  auto res = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::general);
  return res.ec == std::errc() && res.ptr == text.data() + text.size() && std::isfinite(value);
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  ParseResult run() {
    ParseResult result;
    if (text_.size() > kMaxRuleLength) {
      add(0, 1, "E007", "rule is " + std::to_string(text_.size()) + " characters long; at most " +
                            std::to_string(kMaxRuleLength) + " are accepted");
      result.diagnostics = std::move(diags_);
      return result;
    }
    lex();
    if (lexemes_.size() == 1) {
      add(0, 1, "E006", "empty rule: write an update such as 'g' (SGD) or 'adam'");
    } else {
      NodePtr root = parse_expr(0);
      if (!syntax_failed_ && peek().kind != Tok::kEnd) {
        const Lexeme& l = peek();
        if (l.kind == Tok::kRParen) {
          add(l.begin, l.end, "E005", "unmatched ')'");
        } else {
          add(l.begin, l.end, "E005", std::string("unexpected ") + quote(l) + " after a complete rule (missing an operator?)");
        }
      }
      if (diags_.empty()) result.rule = root;
    }
    std::stable_sort(diags_.begin(), diags_.end(),
                     [](const Diagnostic& a, const Diagnostic& b) { return a.column < b.column; });
    result.diagnostics = std::move(diags_);
    return result;
  }

 private:
  // -- diagnostics ----------------------------------------------------------------------------------------------
  void add(int begin, int end, const char* code, std::string message) {
    diags_.push_back(diagnostic_at(text_, begin, end, code, std::move(message)));
  }

  std::string quote(const Lexeme& l) const {
    if (l.kind == Tok::kEnd) return "end of the rule";
    return "'" + std::string(l.text) + "'";
  }

  // -- lexing -----------------------------------------------------------------------------------------------------
  // The number literal starting at byte i (digits, '.', an exponent; letters right after it make it one malformed
  // literal, "2g"); returns where it ends.
  size_t lex_number(size_t i) {
    const size_t n = text_.size();
    const int begin = static_cast<int>(i);
    size_t j = i;
    while (j < n && (is_digit(text_[j]) || text_[j] == '.')) ++j;
    if (j < n && (text_[j] == 'e' || text_[j] == 'E')) {
      size_t k = j + 1;
      if (k < n && (text_[k] == '+' || text_[k] == '-')) ++k;
      while (k < n && is_digit(text_[k])) ++k;  // none: "1e" or "1e+", malformed, reported below
      j = k;
    }
    while (j < n && is_ident_char(text_[j])) ++j;  // "2g" or "1.5x": one malformed literal
    std::string_view lit = text_.substr(i, j - i);
    double value = 0;
    if (!parse_number_literal(lit, value)) {
      double probe = 0;
      auto res = std::from_chars(lit.data(), lit.data() + lit.size(), probe);
      if (res.ec == std::errc::result_out_of_range) {
        add(begin, static_cast<int>(j), "E002", "number '" + std::string(lit) + "' is out of range");
      } else {
        add(begin, static_cast<int>(j), "E002", "malformed number '" + std::string(lit) + "'");
      }
    }
    lexemes_.push_back({Tok::kNumber, begin, static_cast<int>(j), value, lit});
    return j;
  }

  void lex() {
    size_t i = 0;
    const size_t n = text_.size();
    while (i < n) {
      char c = text_[i];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++i;
        continue;
      }
      int begin = static_cast<int>(i);
      if (is_digit(c) || (c == '.' && i + 1 < n && is_digit(text_[i + 1]))) {
        i = lex_number(i);
        continue;
      }
      if (is_ident_start(c)) {
        size_t j = i;
        while (j < n && is_ident_char(text_[j])) ++j;
        lexemes_.push_back({Tok::kIdent, begin, static_cast<int>(j), 0, text_.substr(i, j - i)});
        i = j;
        continue;
      }
      Tok kind;
      switch (c) {
        case '(': kind = Tok::kLParen; break;
        case ')': kind = Tok::kRParen; break;
        case ',': kind = Tok::kComma; break;
        case '+': kind = Tok::kPlus; break;
        case '-': kind = Tok::kMinus; break;
        case '*': kind = Tok::kStar; break;
        case '/': kind = Tok::kSlash; break;
        case '^': kind = Tok::kCaret; break;
        default: {
          // One diagnostic per run of bad bytes (a UTF-8 character is several).
          size_t j = i + 1;
          while (j < n && (static_cast<unsigned char>(text_[j]) & 0xC0) == 0x80) ++j;
          std::string shown;
          unsigned char u = static_cast<unsigned char>(c);
          if (u >= 0x20 && u < 0x7f) {
            shown = "'" + std::string(1, c) + "'";
          } else if (u >= 0x80 && j - i > 1) {
            shown = "'" + std::string(text_.substr(i, j - i)) + "'";
          } else {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02x", u);
            shown = std::string("byte ") + hex;
          }
          add(begin, static_cast<int>(j), "E001", "unexpected character " + shown);
          i = j;
          continue;
        }
      }
      lexemes_.push_back({kind, begin, begin + 1, 0, text_.substr(i, 1)});
      ++i;
    }
    lexemes_.push_back({Tok::kEnd, static_cast<int>(n), static_cast<int>(n) + 1, 0, {}});
  }

  // -- parsing ----------------------------------------------------------------------------------------------------
  const Lexeme& peek() const { return lexemes_[pos_]; }
  const Lexeme& next() {
    const Lexeme& l = lexemes_[pos_];
    if (pos_ + 1 < lexemes_.size()) ++pos_;
    return l;
  }
  bool accept(Tok t) {
    if (peek().kind != t) return false;
    next();
    return true;
  }

  // A placeholder for a part that had an error; parsing goes on so later errors are found too.
  NodePtr error_node(Span span) { return make_const(0, span); }

  void syntax_error(const Lexeme& at, const std::string& what) {
    if (syntax_failed_) return;
    syntax_failed_ = true;
    add(at.begin, at.end, "E003", what);
  }

  bool too_deep(int depth, const Lexeme& at) {
    if (depth <= kMaxDepth) return false;
    if (!syntax_failed_) {
      syntax_failed_ = true;
      add(at.begin, at.end, "E008", "rule is nested more than " + std::to_string(kMaxDepth) + " levels deep");
    }
    return true;
  }

  // expr := term (('+' | '-') term)*
  NodePtr parse_expr(int depth) {
    if (too_deep(depth, peek())) return error_node({});
    NodePtr lhs = parse_term(depth);
    while (!syntax_failed_ && (peek().kind == Tok::kPlus || peek().kind == Tok::kMinus)) {
      Prim op = next().kind == Tok::kPlus ? Prim::kAdd : Prim::kSub;
      NodePtr rhs = parse_term(depth);
      lhs = make_binary(op, lhs, rhs, {lhs->span.begin, rhs->span.end});
    }
    return lhs;
  }

  // term := unary (('*' | '/') unary)*
  NodePtr parse_term(int depth) {
    NodePtr lhs = parse_unary(depth);
    while (!syntax_failed_ && (peek().kind == Tok::kStar || peek().kind == Tok::kSlash)) {
      Prim op = next().kind == Tok::kStar ? Prim::kMul : Prim::kDiv;
      NodePtr rhs = parse_unary(depth);
      lhs = make_binary(op, lhs, rhs, {lhs->span.begin, rhs->span.end});
    }
    return lhs;
  }

  // unary := ('-' | '+') unary | power. A minus before a number literal makes a negative literal.
  NodePtr parse_unary(int depth) {
    if (too_deep(depth, peek())) return error_node({});
    if (peek().kind == Tok::kMinus || peek().kind == Tok::kPlus) {
      const Lexeme& sign = next();
      bool minus = sign.kind == Tok::kMinus;
      NodePtr arg = parse_unary(depth + 1);
      Span span{sign.begin, arg->span.end};
      if (!minus) return arg;
      if (arg->is_const() && lexemes_[pos_ - 1].kind == Tok::kNumber && arg->span.begin == sign.end) {
        return make_const(-arg->param, span);
      }
      return make_unary(Prim::kNeg, arg, std::numeric_limits<double>::quiet_NaN(), span);
    }
    return parse_power(depth);
  }

  // power := primary ('^' unary)?   (right-associative: a^b^c = a^(b^c); -a^b = -(a^b))
  NodePtr parse_power(int depth) {
    NodePtr base = parse_primary(depth);
    if (!syntax_failed_ && peek().kind == Tok::kCaret) {
      next();
      NodePtr exponent = parse_unary(depth + 1);
      return make_binary(Prim::kPow, base, exponent, {base->span.begin, exponent->span.end});
    }
    return base;
  }

  NodePtr parse_primary(int depth) {
    const Lexeme& l = peek();
    switch (l.kind) {
      case Tok::kNumber: {
        next();
        return make_const(std::isfinite(l.number) ? l.number : 0, {l.begin, l.end});
      }
      case Tok::kLParen: {
        next();
        NodePtr inner = parse_expr(depth + 1);
        if (syntax_failed_) return inner;
        if (!accept(Tok::kRParen)) {
          const Lexeme& at = peek();
          syntax_failed_ = true;
          add(at.begin, at.end, "E004",
              "expected ')' to close the '(' at column " + std::to_string(l.begin + 1) + ", found " + quote(at));
          return inner;
        }
        return inner;
      }
      case Tok::kIdent: return parse_name(depth);
      default: {
        std::string found = l.kind == Tok::kEnd ? "the end of the rule" : quote(l);
        syntax_error(l, "expected an operand, a number, a function call or '(', found " + found);
        return error_node({l.begin, l.end});
      }
    }
  }

  static std::vector<std::string_view> names_of(Role role, bool callable) {
    std::vector<std::string_view> out;
    for (const Primitive& p : primitives()) {
      if (p.name.empty() || p.prim == Prim::kConst) continue;
      if (p.role == role) out.push_back(p.name);
      if (callable && p.role == Role::kBinary) out.push_back(p.symbol.empty() ? p.name : p.token);
    }
    return out;
  }

  // A parsed argument list: each argument's tree and its span.
  struct Args {
    std::vector<NodePtr> nodes;
    int close_end = 0;
  };

  Args parse_args(int depth, const Lexeme& open) {
    Args args;
    if (accept(Tok::kRParen)) {
      args.close_end = lexemes_[pos_ - 1].end;
      return args;
    }
    while (true) {
      args.nodes.push_back(parse_expr(depth + 1));
      if (syntax_failed_) return args;
      if (accept(Tok::kComma)) continue;
      if (accept(Tok::kRParen)) {
        args.close_end = lexemes_[pos_ - 1].end;
        return args;
      }
      const Lexeme& at = peek();
      syntax_failed_ = true;
      add(at.begin, at.end, "E004",
          "expected ',' or ')' in the call opened at column " + std::to_string(open.begin + 1) + ", found " +
              quote(at));
      return args;
    }
  }

  // The value of a parameter argument, which must be a number literal (possibly negative).
  bool literal_param(const NodePtr& arg, const Primitive& p, double& value) {
    if (!arg->is_const() || nos::dsl::depth(*arg) != 1) {
      add(arg->span.begin, arg->span.end, "E014",
          "the " + std::string(p.param.name) + " of '" + std::string(p.name) + "' must be a number literal");
      return false;
    }
    value = arg->param;
    if (!p.param.contains(value)) {
      add(arg->span.begin, arg->span.end, "E015",
          "the " + std::string(p.param.name) + " of '" + std::string(p.name) + "' must satisfy " +
              std::string(p.param.range_text) + ", got " + format_number(value));
      return false;
    }
    return true;
  }

  NodePtr parse_name(int depth) {
    const Lexeme id = next();
    std::string_view name = id.text;
    const Primitive* p = find_by_name(name);
    if (p == nullptr) {
      const Primitive* t = find_by_token(name);  // add, sub, mul, div, pow as function names
      if (t != nullptr && t->role == Role::kBinary) p = t;
    }
    bool call = peek().kind == Tok::kLParen;
    Span id_span{id.begin, id.end};
    if (!call) {
      if (p == nullptr) {
        std::string hint = suggest_name(name, names_of(Role::kOperand, false));
        add(id.begin, id.end, "E010",
            "unknown operand '" + std::string(name) + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
        return error_node(id_span);
      }
      if (p->role != Role::kOperand) {
        add(id.begin, id.end, "E011",
            "'" + std::string(name) + "' is a function: call it as " + std::string(name) + "(...)");
        return error_node(id_span);
      }
      return make_operand(p->prim, std::numeric_limits<double>::quiet_NaN(), id_span);
    }
    const Lexeme open = next();
    Args args = parse_args(depth, open);
    if (syntax_failed_) return error_node(id_span);
    Span span{id.begin, args.close_end};
    const int n = static_cast<int>(args.nodes.size());
    auto arity_error = [&](const std::string& expected) {
      add(id.begin, args.close_end, "E013",
          "'" + std::string(name) + "' takes " + expected + ", got " + std::to_string(n) +
              (n == 1 ? " argument" : " arguments"));
      return error_node(span);
    };
    if (p == nullptr) {
      std::string hint = suggest_name(name, names_of(Role::kUnary, true));
      if (hint.empty()) hint = suggest_name(name, names_of(Role::kOperand, false));
      add(id.begin, id.end, "E012",
          "unknown function '" + std::string(name) + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
      return error_node(span);
    }
    switch (p->role) {
      case Role::kOperand: {
        if (p->prim == Prim::kW) {  // w(c) = c*w, the paper's 10^-4 w ... 10^-1 w
          if (n != 1) return arity_error("1 argument (a scale, as in w(0.001))");
          if (!args.nodes[0]->is_const() || nos::dsl::depth(*args.nodes[0]) != 1) {
            add(args.nodes[0]->span.begin, args.nodes[0]->span.end, "E014",
                "the scale of 'w' must be a number literal");
            return error_node(span);
          }
          return make_binary(Prim::kMul, args.nodes[0], make_operand(Prim::kW, std::nan(""), id_span), span);
        }
        if (p->param.kind == ParamSpec::Kind::kNone) {
          add(id.begin, args.close_end, "E016", "operand '" + std::string(name) + "' takes no parameter");
          return error_node(span);
        }
        if (n != 1) return arity_error("1 argument (" + std::string(p->param.name) + ")");
        double value = 0;
        if (!literal_param(args.nodes[0], *p, value)) return error_node(span);
        return make_operand(p->prim, value, span);
      }
      case Role::kUnary: {
        if (p->param.kind == ParamSpec::Kind::kNone) {
          if (n != 1) return arity_error("1 argument");
          if (p->prim == Prim::kIdentity) return args.nodes[0];
          return make_unary(p->prim, args.nodes[0], std::nan(""), span);
        }
        if (n != 2) return arity_error("2 arguments (x, " + std::string(p->param.name) + ")");
        double value = 0;
        if (!literal_param(args.nodes[1], *p, value)) return error_node(span);
        return make_unary(p->prim, args.nodes[0], value, span);
      }
      case Role::kBinary: {
        if (n != 2) return arity_error("2 arguments");
        return make_binary(p->prim, args.nodes[0], args.nodes[1], span);
      }
    }
    return error_node(span);
  }

  std::string_view text_;
  std::vector<Lexeme> lexemes_;
  size_t pos_ = 0;
  bool syntax_failed_ = false;
  std::vector<Diagnostic> diags_;
};

}  // namespace

ParseResult try_parse(std::string_view text) { return Parser(text).run(); }

NodePtr parse(std::string_view text, std::string_view source_name) {
  ParseResult r = try_parse(text);
  if (!r.diagnostics.empty()) throw RuleError(std::move(r.diagnostics), std::string(text), std::string(source_name));
  return r.rule;
}

// -----------------------------------------------------------------------------------------------------------------
// Printer

namespace {

constexpr int kPrecSum = 1, kPrecProduct = 2, kPrecPrefix = 3, kPrecPower = 4, kPrecAtom = 5;

int precedence(const Node& n) {
  switch (n.role()) {
    case Role::kOperand: return n.is_const() && (n.param < 0 || std::signbit(n.param)) ? kPrecPrefix : kPrecAtom;
    case Role::kUnary: return n.prim == Prim::kNeg ? kPrecPrefix : kPrecAtom;
    case Role::kBinary: {
      const Primitive& p = primitive(n.prim);
      return p.symbol.empty() ? kPrecAtom : p.precedence;
    }
  }
  return kPrecAtom;
}

void print(const Node& n, std::ostream& out);

void print_child(const Node& child, bool parens, std::ostream& out) {
  if (parens) out << '(';
  print(child, out);
  if (parens) out << ')';
}

void print(const Node& n, std::ostream& out) {
  const Primitive& p = primitive(n.prim);
  switch (p.role) {
    case Role::kOperand: {
      if (n.is_const()) {
        out << format_number(n.param == 0 ? 0.0 : n.param);
        return;
      }
      out << p.name;
      if (p.param.kind == ParamSpec::Kind::kOptional && n.param != p.param.default_value) {
        out << '(' << format_number(n.param) << ')';
      }
      return;
    }
    case Role::kUnary: {
      if (n.prim == Prim::kNeg) {
        out << '-';
        print_child(*n.args[0], precedence(*n.args[0]) < kPrecPower, out);
        return;
      }
      out << p.name << '(';
      print(*n.args[0], out);
      if (p.param.kind != ParamSpec::Kind::kNone) out << ", " << format_number(n.param);
      out << ')';
      return;
    }
    case Role::kBinary: {
      if (p.symbol.empty()) {
        out << p.name << '(';
        print(*n.args[0], out);
        out << ", ";
        print(*n.args[1], out);
        out << ')';
        return;
      }
      const int prec = p.precedence;
      const Node& lhs = *n.args[0];
      const Node& rhs = *n.args[1];
      if (prec == kPrecPower) {
        print_child(lhs, precedence(lhs) <= kPrecPower, out);
        out << '^';
        print_child(rhs, precedence(rhs) < kPrecPrefix, out);  // a^-b reads as a^(-b)
        return;
      }
      print_child(lhs, precedence(lhs) < prec, out);
      if (prec == kPrecSum) {
        out << ' ' << p.symbol << ' ';
      } else {
        out << p.symbol;
      }
      // Left-associative: a right operand of the same strength keeps its parentheses (a - (b + c)).
      print_child(rhs, precedence(rhs) <= prec, out);
      return;
    }
  }
}

}  // namespace

std::string to_infix(const Node& n) {
  std::ostringstream out;
  print(n, out);
  return out.str();
}

}  // namespace nos::dsl
