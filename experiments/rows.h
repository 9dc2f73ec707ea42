// The rows of a comparison: config.rules expanded (@RUN_DIR:topN, native reference rows), each rule resolved.
#pragma once

#include <string>
#include <vector>

#include "experiments/compare_config.h"

namespace nos::experiments {

// One row of the comparison: one rule, tuned and run with K seeds.
struct CompareRow {
  std::string label;      // how tables name it: the name, the DSL text as given, or a found rule's canonical text
  std::string rule;       // what the evaluator runs (a name or DSL text)
  std::string canonical;  // canonical text (a native row: its class and settings)
  std::string kind;       // "dsl" or "native"
  std::string origin;     // where it came from: "rules[2]", "@runs/x:top3 #1", "reference for adam"
};

// Expands config.rules into rows: @RUN_DIR:topN (and @RUN_DIR, @RUN_DIR:#K) read from the run's store, native reference rows added after their
// twins (unless listed or switched off). Every rule is resolved first: bad rule text throws dsl::RuleError wrapped
// in a UserError naming the entry ("rules[3]" of `source`), with the rule's diagnostics; so do a missing run folder,
// a bad @ spec and the same rule listed twice — except in a report folder that already holds the comparison (its
// config.yaml in config.out): rules that became one canonical form after the folder was made (the canonicaliser
// learnt more) keep their rows and runs, and `notes` (when given) says so.
std::vector<CompareRow> resolve_rows(const CompareConfig& config, const std::string& source,
                                     std::vector<std::string>* notes = nullptr);

// A rule as a user gives it anywhere one rule is taken (nos export, nos eval, nos rule): a search run's found rule —
// "@RUN_DIR" or "@RUN_DIR:top1" (its best rule with status ok), "@RUN_DIR:#K" (its K-th best) — becomes that rule's
// canonical text; anything else (a name, DSL or token text) is returned as it is. compare's rules take the same
// references, and "@RUN_DIR:topN" for N rows. A bad reference, a missing run, a run without rules with status ok or
// too few of them, and "topN" with N > 1 are UserErrors naming `where` (the flag or config key).
std::string resolve_rule_reference(const std::string& text, const std::string& where);

// Checks that every row can train config.task with config.recipe (tasks::check_rule_recipe), before any run starts:
// a row that cannot (torch-adamw with a coupled weight decay, a native row with a decoupled one, a learned optimizer
// with any) is a UserError naming the row, where it came from and the weight decay flags. Returns a warning per row
// whose combination runs but is likely not what was meant (tasks::rule_recipe_warning: adamw under a coupled decay).
std::vector<std::string> check_row_recipes(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                           const std::string& source);

}  // namespace nos::experiments
