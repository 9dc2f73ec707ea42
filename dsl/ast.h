// The immutable rule tree, built only through checking factory functions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/text.h"
#include "dsl/primitives.h"

namespace nos::dsl {

// Byte range [begin, end) of a node in the text it was parsed from; begin == end == 0 when it has none.
struct Span {
  int begin = 0;
  int end = 0;
};

struct Node;
using NodePtr = std::shared_ptr<const Node>;

// One node of a rule. Parameters are always resolved (m is m(0.9)), so equal rules compare equal structurally.
struct Node {
  Prim prim;
  double param;               // the primitive's parameter (value of a constant); NaN when it takes none
  std::vector<NodePtr> args;  // 0 for operands, 1 for unary, 2 for binary functions
  Span span;

  Role role() const { return primitive(prim).role; }
  bool is_const() const { return prim == Prim::kConst; }
};

// Factories check arity and parameter range (a violation is a bug in the caller: parse reports user mistakes
// before building). A missing optional parameter takes the table's default.
NodePtr make_operand(Prim prim, double param = std::numeric_limits<double>::quiet_NaN(), Span span = {});
NodePtr make_const(double value, Span span = {});
NodePtr make_unary(Prim prim, NodePtr arg, double param = std::numeric_limits<double>::quiet_NaN(),
                   Span span = {});
NodePtr make_binary(Prim prim, NodePtr lhs, NodePtr rhs, Span span = {});

// Structural equality (ignores spans).
bool equal(const Node& a, const Node& b);

// Properties of a whole tree.
bool is_random(const Node& n);        // contains noise, anoise or drop
bool uses_decay(const Node& n);       // contains ld, cd, rd or T
bool has_reduction(const Node& n);    // contains a reduction (norm, trust: Primitive::reduction)
int node_count(const Node& n);
int depth(const Node& n);

// The moving averages a rule reads: m/v/y/vmax/s/mp with their decays, sorted, each once (vmax(β) brings v(β), the
// average it is the maximum of). Operands adam and rmsprop read m(0.9) and v(0.999).
struct Average {
  Moment moment;
  double beta;
  bool operator==(const Average& o) const { return moment == o.moment && beta == o.beta; }
  bool operator<(const Average& o) const {
    return moment != o.moment ? moment < o.moment : beta < o.beta;
  }
};
std::vector<Average> required_averages(const Node& n);
// The average one of a primitive's reads names, for a node with parameter `param` (the β of m(0.8)).
Average average_read(const AverageRead& read, double param);
std::string average_name(const Average& a);  // "m(0.9)"
// For averages[i] = vmax(β), the index of v(β), which is updated first (sorted before it); -1 for the others.
int partner_average(const std::vector<Average>& averages, size_t i);

}  // namespace nos::dsl
