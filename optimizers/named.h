// The library of named optimizers (rule text + default options, registered in one table) and rule resolution.
#pragma once

#include <torch/types.h>

#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dsl/program.h"
#include "optimizers/lstm_optimizer.h"
#include "optimizers/rule_optimizer.h"

namespace nos::optimizers {

// One named optimizer: a rule in the DSL plus the options it is meant to run with.
struct NamedRule {
  std::string name;         // "powersign-cd"
  std::string text;         // "exp(cd*sign(g)*sign(m))*g"
  RuleOptions defaults;     // lr, bias_correction, ... (total_steps stays 0: the run sets T)
  std::string description;  // one line for docs and `nos` listings
};

// Every named rule, in one table (sgd, momentum, adam, adamw, nesterov, amsgrad, adagrad, lion, nadam, radam, lamb,
// signsgd, signum, rmsprop, powersign[-ld|-cd|-rd], addsign[-ld|-cd|-rd]).
const std::vector<NamedRule>& named_rules();

// The row called `name`, or nullptr.
const NamedRule* find_named_rule(std::string_view name);

// One of LibTorch's own optimizers, runnable by name as a reference row beside its compiled twin ("torch-adam" next
// to "adam"), so a comparison shows that the compiled rule trains as the native class does.
struct NativeRule {
  std::string name;         // "torch-adam"
  std::string twin;         // the named rule it matches: "adam"
  std::string text;         // the class and its settings: "torch::optim::Adam(betas=(0.9, 0.999), eps=1e-08)"
  double lr = 0;            // default lr (the twin's)
  std::string description;  // one line for docs and `nos rules`
};

// LibTorch's own optimizers (torch-sgd, torch-momentum, torch-nesterov, torch-adam, torch-adamw, torch-rmsprop,
// torch-amsgrad, torch-adagrad), in one table.
const std::vector<NativeRule>& native_rules();

// The native row called `name`, or nullptr.
const NativeRule* find_native_rule(std::string_view name);

// The native row whose twin is the named rule `twin` ("adam" → torch-adam), or nullptr.
const NativeRule* find_native_twin(std::string_view twin);

// The three kinds of rule nos runs. A new kind fails the build wherever ResolvedRule::kind is visited.
// A compiled DSL rule (a named rule's row or DSL text): a RuleOptimizer runs its program.
struct CompiledRule {
  std::shared_ptr<const dsl::Program> program;
};
// A LibTorch optimizer (NativeRule, "torch-adam"): make_training_optimizer builds the LibTorch class. `twin` is its
// twin's compiled program (what the row is compared with; state and canonical helpers keep working), never run.
struct NativeClass {
  std::shared_ptr<const dsl::Program> twin;
};
// "lstm:PATH" (a network written by nos learn): the file, and the FNV-1a hash of its bytes that identifies the rule
// (its canonical text is "lstm:HASH"); an LstmOptimizer runs it, its lr scaling the network's update (1: as trained).
struct LearnedRule {
  std::string path;
  std::string hash;
};
using RuleKind = std::variant<CompiledRule, NativeClass, LearnedRule>;

// A rule ready to run: a named rule's row, a native reference row, a learned optimizer, or DSL text with default
// options.
struct ResolvedRule {
  std::string name;  // empty for DSL text
  std::string text;  // the rule as given (or the named rule's text; for a native row its class and settings)
  RuleOptions defaults;
  RuleKind kind;
  // The compiled program: a compiled rule's, or a native row's twin's; null for a learned optimizer.
  std::shared_ptr<const dsl::Program> program() const;
  bool native() const { return std::holds_alternative<NativeClass>(kind); }
  const LearnedRule* learned() const { return std::get_if<LearnedRule>(&kind); }
};

// "dsl", "native" or "learned": the kind column of reports and funnel rows.
std::string kind_label(const ResolvedRule& rule);

// The prefix of a learned-optimizer rule: "lstm:PATH".
inline constexpr const char* kLstmRulePrefix = "lstm:";

// The DSL text a rule given by a user stands for: a named rule's text ("powersign-cd" → "exp(cd*sign(g)*sign(m))*g"),
// a native row's twin's text ("torch-adam" → "adam"), or `name_or_text` itself.
std::string rule_source_text(std::string_view name_or_text);

// Parses rule text a user gave (after rule_source_text), throwing dsl::RuleError when it does not parse. When the
// text reads like a name ("powersgn", "torch-adma": letters, digits, '-', '_') and a named or native rule is within
// two edits of it, the error is E017 naming that rule instead of the DSL's complaints about unknown operands.
dsl::NodePtr parse_user_rule(std::string_view text);

// A known name resolves to its row (names win over DSL operands of the same spelling: "rmsprop" is the PyTorch
// RMSprop row, not the operand), then native names ("torch-adam"); anything else is parsed as DSL text, throwing
// dsl::RuleError when it does not parse (with a named rule suggested, as parse_user_rule does).
ResolvedRule resolve_rule(std::string_view name_or_text);

// What identifies the rule in records and reports: the compiled rule's canonical text, or the native row's text.
std::string canonical_text(const ResolvedRule& rule);

// An optimizer running `rule` over `params` with `options` (usually rule.defaults with lr, total_steps, seed
// filled in: the options are used as given, so keep the defaults' bias_correction for momentum and rmsprop).
// A compiled rule only: a native row is an InternalError here (use make_training_optimizer).
std::unique_ptr<RuleOptimizer> make_optimizer(const ResolvedRule& rule, std::vector<torch::Tensor> params,
                                              const RuleOptions& options);

// Parameters sharing one weight decay: L2 added to the gradient (PyTorch-style), and a decoupled λ (AdamW-style,
// w ← w − lr·λ·w before the rule's step); NaN: the options' own decoupled_weight_decay (adamw's 0.01).
struct ParamGroup {
  std::vector<torch::Tensor> params;
  double weight_decay = 0;
  double decoupled_weight_decay = std::numeric_limits<double>::quiet_NaN();
};

// The optimizer a training loop runs `rule` with: a RuleOptimizer for a compiled rule (options as for
// make_optimizer, each group's weight_decay and decoupled_weight_decay (unless NaN) replacing the options'), or for a
// native row LibTorch's own class with options.lr and each group's weight decay (total_steps and seed do not apply
// to it; a decoupled λ only for torch-adamw, whose own is 0.01: any other native row refuses one, a UserError).
std::unique_ptr<torch::optim::Optimizer> make_training_optimizer(const ResolvedRule& rule,
                                                                 const std::vector<ParamGroup>& groups,
                                                                 const RuleOptions& options);

}  // namespace nos::optimizers
