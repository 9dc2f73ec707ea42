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

// Expands config.rules into rows: @RUN_DIR:topN read from the run's store, native reference rows added after their
// twins (unless listed or switched off). Every rule is resolved first: bad rule text throws dsl::RuleError wrapped
// in a UserError naming the entry ("rules[3]" of `source`), with the rule's diagnostics; so do a missing run folder,
// a bad @ spec and the same rule listed twice.
std::vector<CompareRow> resolve_rows(const CompareConfig& config, const std::string& source);

}  // namespace nos::experiments
