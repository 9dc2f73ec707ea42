// Canonical form: sums and products flattened, ordered and folded, so equivalent spellings print alike.
#include "common/text.h"
#include "dsl/canonical.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "dsl/error.h"
#include "dsl/parse.h"

namespace nos::dsl {

namespace {


// A product c · f1 · f2 ⋯ whose factors are canonical trees that are not constants, products or negations.
struct Term {
  double coef = 1;
  std::vector<NodePtr> factors;
};

bool is_sum(const Node& n) { return n.prim == Prim::kAdd || n.prim == Prim::kSub; }
bool is_const(const NodePtr& n, double value) { return n->is_const() && n->param == value; }

// Multiplies `coef` by a constant factor; one that would overflow stays a factor of its own.
void absorb_constant(const NodePtr& c, double& coef, std::vector<NodePtr>& factors) {
  double product = coef * c->param;
  if (std::isfinite(product)) {
    coef = product == 0 ? 0.0 : product;
  } else {
    factors.push_back(c);
  }
}

NodePtr build_sum(std::vector<Term> terms);
void collect_terms(const NodePtr& n, double scale, std::vector<Term>& out);

// Whether the first term of a canonical sum has a negative coefficient.
bool leads_negative(const Node& sum) {
  const Node* n = &sum;
  while (is_sum(*n)) n = n->args[0].get();
  if (n->prim == Prim::kNeg) return true;
  if (n->is_const()) return n->param < 0;
  while (n->prim == Prim::kMul) n = n->args[0].get();
  return n->is_const() && n->param < 0;
}

void decompose_product(const NodePtr& n, double& coef, std::vector<NodePtr>& factors) {
  switch (n->prim) {
    case Prim::kAdd:
    case Prim::kSub:
      // A sum factor starts with a positive term; its sign moves to the coefficient: (-a + b)*m = -(a - b)*m.
      if (leads_negative(*n)) {
        std::vector<Term> negated;
        collect_terms(n, -1.0, negated);
        coef = -coef;
        factors.push_back(build_sum(std::move(negated)));
      } else {
        factors.push_back(n);
      }
      return;
    case Prim::kConst: absorb_constant(n, coef, factors); return;
    case Prim::kMul:
      decompose_product(n->args[0], coef, factors);
      decompose_product(n->args[1], coef, factors);
      return;
    case Prim::kNeg:
      coef = -coef;
      decompose_product(n->args[0], coef, factors);
      return;
    // Every other tree is one factor.
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
    case Prim::kLD:
    case Prim::kCD:
    case Prim::kRD:
    case Prim::kIdentity:
    case Prim::kExp:
    case Prim::kLog:
    case Prim::kSqrt:
    case Prim::kSign:
    case Prim::kClip:
    case Prim::kDrop:
    case Prim::kDiv:
    case Prim::kPow:
    case Prim::kKeep:
    case Prim::kAbs:
    case Prim::kMax:
    case Prim::kMin:
    case Prim::kVMax:
    case Prim::kS:
    case Prim::kMP:
    case Prim::kT:
    case Prim::kTotal:
    case Prim::kAMSGrad:
    case Prim::kAdaGrad:
    case Prim::kNAdam:
    case Prim::kRAdam:
    case Prim::kNorm:
    case Prim::kTrust:
      factors.push_back(n);
      return;
      // Do not add a default clause: every primitive must be handled here (-Werror=switch names a new one).
  }
}

// Whether c·(sum) is written out as a sum: for c = ±1 (associativity and negation: -(a + b), -a - b and
// (-1)*(b + a) are one sum). Other constants are not distributed: 2*(a + b) stays a product.
bool distributes(double coef, const std::vector<NodePtr>& factors) {
  return factors.size() == 1 && is_sum(*factors[0]) && (coef == 1 || coef == -1);
}

// The terms of a canonical tree times `scale`.
void collect_terms(const NodePtr& n, double scale, std::vector<Term>& out) {
  if (n->prim == Prim::kAdd || n->prim == Prim::kSub) {
    collect_terms(n->args[0], scale, out);
    collect_terms(n->args[1], n->prim == Prim::kSub ? -scale : scale, out);
    return;
  }
  Term t;
  t.coef = scale;
  decompose_product(n, t.coef, t.factors);
  if (distributes(t.coef, t.factors)) {
    collect_terms(t.factors[0], t.coef, out);
    return;
  }
  out.push_back(std::move(t));
}

void sort_by_text(std::vector<NodePtr>& nodes) {
  std::vector<std::pair<std::string, NodePtr>> keyed;
  keyed.reserve(nodes.size());
  for (NodePtr& n : nodes) keyed.emplace_back(to_infix(*n), std::move(n));
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < nodes.size(); ++i) nodes[i] = std::move(keyed[i].second);
}

// c · f1 · f2 ⋯ as a tree: coefficient first ("2*g"), -1 as a leading minus ("-m*sign(g)"), factors in text order.
NodePtr build_product(double coef, std::vector<NodePtr> factors) {
  if (coef == 0) return make_const(0);
  if (factors.empty()) return make_const(coef);
  sort_by_text(factors);
  NodePtr node;
  if (coef == 1) {
    node = factors[0];
  } else if (coef == -1) {
    node = make_unary(Prim::kNeg, factors[0]);
  } else {
    node = make_binary(Prim::kMul, make_const(coef), factors[0]);
  }
  for (size_t i = 1; i < factors.size(); ++i) node = make_binary(Prim::kMul, node, factors[i]);
  return node;
}

// Σ terms as a tree: like deterministic terms merged (x + x = 2*x), zero terms dropped, the constant first and the
// rest in text order, negative terms written with '-'.
NodePtr build_sum(std::vector<Term> terms) {
  struct Keyed {
    std::string key;
    Term term;
    bool mergeable;
  };
  std::vector<Keyed> merged;
  for (Term& t : terms) {
    if (t.coef == 0) continue;
    NodePtr unit = build_product(1, t.factors);
    std::string key = t.factors.empty() ? std::string() : to_infix(*unit);
    bool mergeable = !is_random(*unit);
    bool done = false;
    if (mergeable) {
      for (Keyed& k : merged) {
        if (k.mergeable && k.key == key) {
          double sum = k.term.coef + t.coef;
          if (std::isfinite(sum)) {
            k.term.coef = sum == 0 ? 0.0 : sum;
            done = true;
          }
          break;
        }
      }
    }
    if (!done) merged.push_back({std::move(key), std::move(t), mergeable});
  }
  merged.erase(std::remove_if(merged.begin(), merged.end(), [](const Keyed& k) { return k.term.coef == 0; }),
               merged.end());
  if (merged.empty()) return make_const(0);
  std::stable_sort(merged.begin(), merged.end(), [](const Keyed& a, const Keyed& b) { return a.key < b.key; });
  NodePtr node = build_product(merged[0].term.coef, merged[0].term.factors);
  for (size_t i = 1; i < merged.size(); ++i) {
    const Term& t = merged[i].term;
    if (t.coef < 0) {
      node = make_binary(Prim::kSub, node, build_product(-t.coef, t.factors));
    } else {
      node = make_binary(Prim::kAdd, node, build_product(t.coef, t.factors));
    }
  }
  return node;
}

NodePtr normalize_sum(const std::vector<NodePtr>& parts, const std::vector<double>& scales) {
  std::vector<Term> terms;
  for (size_t i = 0; i < parts.size(); ++i) collect_terms(parts[i], scales[i], terms);
  return build_sum(std::move(terms));
}

NodePtr fold_or(double value, const NodePtr& otherwise) {
  return std::isfinite(value) ? make_const(value == 0 ? 0.0 : value) : otherwise;
}

// The value of `prim` on plain numbers: its Primitive::fold, the one every execution path folds scalars with.
double fold(Prim prim, double a, double b = 0, double param = kNaN) { return primitive(prim).fold({a, b, param}); }

// For functions of |x| (log, sqrt) and odd functions (sign, clip): x written as s · |coefficient| · factors with
// s = ±1, so -x can become x (log|−x| = log|x|) or be pulled outside (sign(−x) = −sign(x)).
bool split_sign(const NodePtr& x, NodePtr& positive) {
  if (is_sum(*x)) return false;
  double coef = 1;
  std::vector<NodePtr> factors;
  decompose_product(x, coef, factors);
  if (factors.empty() || coef >= 0) return false;
  positive = build_product(-coef, std::move(factors));
  return true;
}

NodePtr canon(const NodePtr& n) {
  const Primitive& p = primitive(n->prim);
  if (p.role == Role::kOperand) {
    return n->is_const() ? make_const(n->param == 0 ? 0.0 : n->param) : make_operand(n->prim, n->param);
  }
  switch (n->prim) {
    case Prim::kIdentity: return canon(n->args[0]);
    case Prim::kKeep: return canon(n->args[0]);
    case Prim::kNeg: return normalize_sum({canon(n->args[0])}, {-1.0});
    case Prim::kAdd: return normalize_sum({canon(n->args[0]), canon(n->args[1])}, {1.0, 1.0});
    case Prim::kSub: return normalize_sum({canon(n->args[0]), canon(n->args[1])}, {1.0, -1.0});
    case Prim::kMul: {
      NodePtr a = canon(n->args[0]);
      NodePtr b = canon(n->args[1]);
      double coef = 1;
      std::vector<NodePtr> factors;
      decompose_product(a, coef, factors);
      decompose_product(b, coef, factors);
      std::vector<Term> terms;
      if (distributes(coef, factors)) {
        collect_terms(factors[0], coef, terms);
      } else {
        terms.push_back(Term{coef, std::move(factors)});
      }
      return build_sum(std::move(terms));
    }
    case Prim::kDiv: {
      NodePtr a = canon(n->args[0]);
      NodePtr b = canon(n->args[1]);
      NodePtr div = make_binary(Prim::kDiv, a, b);
      if (a->is_const() && b->is_const()) return fold_or(fold(Prim::kDiv, a->param, b->param), div);
      return div;
    }
    case Prim::kPow: {
      NodePtr a = canon(n->args[0]);
      NodePtr b = canon(n->args[1]);
      NodePtr pow = make_binary(Prim::kPow, a, b);
      if (a->is_const() && b->is_const()) return fold_or(fold(Prim::kPow, a->param, b->param), pow);
      if (is_const(b, 1)) return a;
      if (is_const(b, 0)) return make_const(1);
      if (a->prim == Prim::kG && is_const(b, 2)) return make_operand(Prim::kG2);
      if (a->prim == Prim::kG && is_const(b, 3)) return make_operand(Prim::kG3);
      return pow;
    }
    case Prim::kExp: {
      NodePtr a = canon(n->args[0]);
      NodePtr e = make_unary(Prim::kExp, a);
      return a->is_const() ? fold_or(fold(Prim::kExp, a->param), e) : e;
    }
    case Prim::kLog:
    case Prim::kSqrt: {
      NodePtr a = canon(n->args[0]);
      NodePtr positive;
      if (split_sign(a, positive)) a = positive;
      NodePtr f = make_unary(n->prim, a);
      return a->is_const() ? fold_or(fold(n->prim, a->param), f) : f;
    }
    case Prim::kSign: {
      // sign(c·x) = sign(c)·sign(x), sign(sign(x)) = sign(x).
      NodePtr a = canon(n->args[0]);
      if (a->is_const()) return make_const(fold(Prim::kSign, a->param));
      bool negative = false;
      if (!is_sum(*a)) {
        double coef = 1;
        std::vector<NodePtr> factors;
        decompose_product(a, coef, factors);
        if (!factors.empty() && coef != 0) {
          negative = coef < 0;
          a = build_product(1, std::move(factors));
        }
      }
      // A direction that is its moving average or gradient over a positive denominator has their sign:
      // sign(adam) = sign(amsgrad) = sign(radam) = sign(m), sign(rmsprop) = sign(adagrad) = sign(g) (at every eps;
      // RAdam's rectifier and its warm-up's plain m are positive multiples of m).
      if (a->prim == Prim::kAdam || a->prim == Prim::kAMSGrad || a->prim == Prim::kRAdam) {
        a = make_operand(Prim::kM);
      } else if (a->prim == Prim::kRMSProp || a->prim == Prim::kAdaGrad) {
        a = make_operand(Prim::kG);
      }
      NodePtr s = a->prim == Prim::kSign ? a : make_unary(Prim::kSign, a);
      return negative ? normalize_sum({s}, {-1.0}) : s;
    }
    case Prim::kClip: {
      NodePtr a = canon(n->args[0]);
      double c = n->param;
      if (a->is_const()) return make_const(fold(Prim::kClip, a->param, 0, c));
      NodePtr positive;
      if (split_sign(a, positive)) return normalize_sum({make_unary(Prim::kClip, positive, c)}, {-1.0});
      return make_unary(Prim::kClip, a, c);
    }
    case Prim::kDrop: {
      NodePtr a = canon(n->args[0]);
      if (n->param == 0) return a;
      return make_unary(Prim::kDrop, a, n->param);
    }
    case Prim::kAbs: {
      // |c| folds, |-x| = |x|, ||x|| = |x|.
      NodePtr a = canon(n->args[0]);
      if (a->is_const()) return make_const(fold(Prim::kAbs, a->param));
      NodePtr positive;
      if (split_sign(a, positive)) a = positive;
      return a->prim == Prim::kAbs ? a : make_unary(Prim::kAbs, a);
    }
    case Prim::kMax:
    case Prim::kMin: {
      // Commutative: operands in text order; max(x, x) = x; two constants fold.
      NodePtr a = canon(n->args[0]);
      NodePtr b = canon(n->args[1]);
      if (a->is_const() && b->is_const()) return fold_or(fold(n->prim, a->param, b->param), make_binary(n->prim, a, b));
      const std::string ta = to_infix(*a), tb = to_infix(*b);
      if (ta == tb) return a;
      return tb < ta ? make_binary(n->prim, b, a) : make_binary(n->prim, a, b);
    }
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
    case Prim::kLD:
    case Prim::kCD:
    case Prim::kRD:
    case Prim::kConst:
    case Prim::kVMax:
    case Prim::kS:
    case Prim::kMP:
    case Prim::kT:
    case Prim::kTotal:
    case Prim::kAMSGrad:
    case Prim::kAdaGrad:
    case Prim::kNAdam:
    case Prim::kRAdam: break;  // operands: handled above
    case Prim::kNorm: {
      // norm(-x) = norm(x) (the squares are equal); nothing else (norm(2*x) = 2*norm(x) only up to rounding).
      NodePtr a = canon(n->args[0]);
      NodePtr positive;
      if (split_sign(a, positive)) a = positive;
      return make_unary(Prim::kNorm, a);
    }
    case Prim::kTrust: return make_unary(Prim::kTrust, canon(n->args[0]));
      // Do not add a default clause: every primitive must be handled here (-Werror=switch names a new one).
  }
  NOS_CHECK(false, "canonicalize: unhandled primitive '" << p.token << "'");
  return n;
}

}  // namespace

NodePtr canonicalize(const NodePtr& rule) {
  NOS_CHECK(rule != nullptr, "canonicalize of a null rule");
  return canon(rule);
}

std::string canonical_text(const NodePtr& rule) { return to_infix(*canonicalize(rule)); }

std::string recanonicalized(const std::string& canonical) {
  try {
    return canonical_text(parse(canonical));
  } catch (const UserError&) {
    return canonical;
  }
}

uint64_t rule_hash(const NodePtr& rule) {
  // FNV-1a, 64 bit.
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : canonical_text(rule)) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string hash_hex(uint64_t hash) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

}  // namespace nos::dsl
