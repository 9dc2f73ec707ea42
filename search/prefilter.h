// The cheap check before training: a rule must lower an analytic objective's loss, or it is rejected untrained.
#pragma once

#include <string>

#include "dsl/ast.h"
#include "dsl/probe.h"
#include "search/config.h"
#include "tasks/objectives.h"

namespace nos::search {

struct PrefilterVerdict {
  bool pass = false;
  std::string message;  // why it was rejected, or the best loss ratio and its lr when it passed
};

// Runs the rule for `steps` steps at each lr of the grid on the objective (float64, seed 0) and passes it when one
// run ends with a loss below kMaxLossRatio times the starting loss. Takes a few milliseconds per lr.
class Prefilter {
 public:
  explicit Prefilter(PrefilterSettings settings);
  // `fingerprint`: the rule's, when the caller has it (else the probe runs here).
  PrefilterVerdict check(const dsl::NodePtr& rule, const dsl::Fingerprint* fingerprint = nullptr) const;

  // Halving the loss is not enough: shrinking Beale's start (2.8, 0.35) toward 0, what `w` does, reaches 0.556 of
  // its loss at best; plain gradient descent at lr 1e-3 reaches 0.06 within 200 steps.
  static constexpr double kMaxLossRatio = 0.25;

 private:
  PrefilterSettings settings_;
  tasks::Objective objective_;  // unused when settings_.objective is "none"
};

}  // namespace nos::search
