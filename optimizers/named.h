// The library of named optimizers (rule text + default options, registered in one table) and rule resolution.
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dsl/program.h"
#include "optimizers/rule_optimizer.h"

namespace nos::optimizers {

// One named optimizer: a rule in the DSL plus the options it is meant to run with.
struct NamedRule {
  std::string name;         // "powersign-cd"
  std::string text;         // "exp(cd*sign(g)*sign(m))*g"
  RuleOptions defaults;     // lr, bias_correction, ... (total_steps stays 0: the run sets T)
  std::string description;  // one line for docs and `nos` listings
};

// Every named rule, in one table (sgd, momentum, adam, rmsprop, powersign[-ld|-cd|-rd], addsign[-ld|-cd|-rd]).
const std::vector<NamedRule>& named_rules();

// The row called `name`, or nullptr.
const NamedRule* find_named_rule(std::string_view name);

// A rule ready to run: a named rule's row, or DSL text with default options.
struct ResolvedRule {
  std::string name;  // empty for DSL text
  std::string text;  // the rule as given (or the named rule's text)
  std::shared_ptr<const dsl::Program> program;
  RuleOptions defaults;
};

// A known name resolves to its row (names win over DSL operands of the same spelling: "rmsprop" is the PyTorch
// RMSprop row, not the operand); anything else is parsed as DSL text, throwing dsl::RuleError when it does not parse.
ResolvedRule resolve_rule(std::string_view name_or_text);

// An optimizer running `rule` over `params` with `options` (usually rule.defaults with lr, total_steps, seed
// filled in: the options are used as given, so keep the defaults' bias_correction for momentum and rmsprop).
std::unique_ptr<RuleOptimizer> make_optimizer(const ResolvedRule& rule, std::vector<torch::Tensor> params,
                                              const RuleOptions& options);

}  // namespace nos::optimizers
