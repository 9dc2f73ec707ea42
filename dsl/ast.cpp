// Factories and whole-tree queries of the immutable rule tree.
#include "dsl/ast.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "dsl/error.h"

namespace nos::dsl {

namespace {
double resolve_param(const Primitive& p, double param) {
  switch (p.param.kind) {
    case ParamSpec::Kind::kNone:
      NOS_CHECK(std::isnan(param), "primitive '" << p.token << "' takes no parameter");
      return std::numeric_limits<double>::quiet_NaN();
    case ParamSpec::Kind::kOptional:
      if (std::isnan(param)) return p.param.default_value;
      break;
    case ParamSpec::Kind::kRequired:
      NOS_CHECK(!std::isnan(param), "primitive '" << p.token << "' needs its parameter " << p.param.name);
      break;
  }
  NOS_CHECK(p.param.contains(param), "parameter " << param << " of '" << p.token << "' outside " << p.param.range_text);
  return param;
}

NodePtr make(Prim prim, double param, std::vector<NodePtr> args, Span span) {
  const Primitive& p = primitive(prim);
  for (const NodePtr& a : args) NOS_CHECK(a != nullptr, "null argument to '" << p.token << "'");
  return std::make_shared<const Node>(Node{prim, resolve_param(p, param), std::move(args), span});
}
}  // namespace

NodePtr make_operand(Prim prim, double param, Span span) {
  NOS_CHECK(primitive(prim).role == Role::kOperand, "'" << primitive(prim).token << "' is not an operand");
  return make(prim, param, {}, span);
}

NodePtr make_const(double value, Span span) { return make(Prim::kConst, value, {}, span); }

NodePtr make_unary(Prim prim, NodePtr arg, double param, Span span) {
  NOS_CHECK(primitive(prim).role == Role::kUnary, "'" << primitive(prim).token << "' is not a unary function");
  return make(prim, param, {std::move(arg)}, span);
}

NodePtr make_binary(Prim prim, NodePtr lhs, NodePtr rhs, Span span) {
  NOS_CHECK(primitive(prim).role == Role::kBinary, "'" << primitive(prim).token << "' is not a binary function");
  return make(prim, std::numeric_limits<double>::quiet_NaN(), {std::move(lhs), std::move(rhs)}, span);
}

bool equal(const Node& a, const Node& b) {
  if (a.prim != b.prim || a.args.size() != b.args.size()) return false;
  bool pa = std::isnan(a.param), pb = std::isnan(b.param);
  if (pa != pb || (!pa && a.param != b.param)) return false;
  for (size_t i = 0; i < a.args.size(); ++i) {
    if (!equal(*a.args[i], *b.args[i])) return false;
  }
  return true;
}

namespace {
template <typename Pred>
bool any_node(const Node& n, Pred pred) {
  if (pred(n)) return true;
  for (const NodePtr& a : n.args) {
    if (any_node(*a, pred)) return true;
  }
  return false;
}
}  // namespace

bool is_random(const Node& n) {
  return any_node(n, [](const Node& x) { return primitive(x.prim).random; });
}

bool has_reduction(const Node& n) {
  return any_node(n, [](const Node& x) { return primitive(x.prim).reduction; });
}

bool uses_decay(const Node& n) {
  return any_node(n, [](const Node& x) { return primitive(x.prim).uses_decay; });
}

int node_count(const Node& n) {
  int count = 1;
  for (const NodePtr& a : n.args) count += node_count(*a);
  return count;
}

int depth(const Node& n) {
  int d = 0;
  for (const NodePtr& a : n.args) d = std::max(d, depth(*a));
  return d + 1;
}

namespace {
void collect_averages(const Node& n, std::vector<Average>& out) {
  for (const AverageRead& read : primitive(n.prim).reads) {
    if (read.moment == Moment::kNone) continue;
    const Average a = average_read(read, n.param);
    out.push_back(a);
    // vmax(β) is the running maximum of v(β): both are kept.
    if (a.moment == Moment::kMaxSecond) out.push_back({Moment::kSecond, a.beta});
  }
  for (const NodePtr& a : n.args) collect_averages(*a, out);
}
}  // namespace

std::vector<Average> required_averages(const Node& n) {
  std::vector<Average> out;
  collect_averages(n, out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Average average_read(const AverageRead& read, double param) {
  return {read.moment, std::isnan(read.beta) ? param : read.beta};
}

std::string average_name(const Average& a) {
  switch (a.moment) {
    case Moment::kFirst: return "m(" + format_number(a.beta) + ")";
    case Moment::kSecond: return "v(" + format_number(a.beta) + ")";
    case Moment::kThird: return "y(" + format_number(a.beta) + ")";
    case Moment::kMaxSecond: return "vmax(" + format_number(a.beta) + ")";
    case Moment::kSum: return "s";
    case Moment::kPrev: return "mp(" + format_number(a.beta) + ")";
    case Moment::kNone: break;
  }
  return "none";
}

int partner_average(const std::vector<Average>& averages, size_t i) {
  if (averages[i].moment != Moment::kMaxSecond) return -1;
  for (size_t j = 0; j < averages.size(); ++j) {
    if (averages[j].moment == Moment::kSecond && averages[j].beta == averages[i].beta) return static_cast<int>(j);
  }
  return -1;
}

}  // namespace nos::dsl
