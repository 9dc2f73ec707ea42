// The prefilter: a short run of the rule on an analytic objective at a few learning rates.
#include "search/prefilter.h"

#include <cmath>
#include <memory>

#include "common/text.h"
#include "dsl/probe.h"
#include "dsl/program.h"
#include "optimizers/named.h"
#include "tasks/objective_run.h"

namespace nos::search {

Prefilter::Prefilter(PrefilterSettings settings) : settings_(std::move(settings)) {
  if (settings_.objective != "none") objective_ = tasks::make_objective(settings_.objective, 0);
}

PrefilterVerdict Prefilter::check(const dsl::NodePtr& rule, const dsl::Fingerprint* fingerprint) const {
  optimizers::ResolvedRule resolved;
  resolved.text = "prefilter";
  resolved.kind = optimizers::CompiledRule{std::make_shared<const dsl::Program>(dsl::compile(rule))};
  std::string probe_note;
  if (settings_.probe) {
    const dsl::ProbeVerdict probe =
        dsl::probe_verdict(fingerprint != nullptr ? *fingerprint : dsl::fingerprint(*resolved.program()));
    if (!probe.pass) return {false, "probe: " + probe.reason};
    probe_note = "probe: mean cosine with g " + nos::fixed(probe.mean_cosine, 3);
  }
  if (settings_.objective == "none") return {true, probe_note};
  double best_ratio = INFINITY;
  double best_lr = 0;
  for (double lr : settings_.lr_grid) {
    tasks::ObjectiveRunConfig config;
    config.steps = settings_.steps;
    config.lr = lr;
    config.dtype = torch::kFloat64;
    config.seed = 0;
    const tasks::ObjectiveResult r = tasks::run_objective(resolved, objective_, config);
    if (r.status != tasks::Status::kOk || !std::isfinite(r.final_loss)) continue;
    // Measured from the optimum's value, so objectives whose minimum is not 0 work alike.
    const double start = r.initial_loss - objective_.optimum_value;
    const double ratio = start > 0 ? (r.final_loss - objective_.optimum_value) / start : 0.0;
    if (ratio < best_ratio) {
      best_ratio = ratio;
      best_lr = lr;
    }
    if (ratio < kMaxLossRatio) break;  // one good lr is enough
  }
  PrefilterVerdict verdict;
  verdict.pass = best_ratio < kMaxLossRatio;
  if (std::isinf(best_ratio)) {
    verdict.message = "prefilter: diverged on " + objective_.name + " at every lr";
  } else {
    verdict.message = std::string("prefilter: ") + (verdict.pass ? "" : "cannot reduce the loss of ") +
                      (verdict.pass ? "lowers the loss of " : "") + objective_.name + " to " +
                      nos::format_number(best_ratio) + " of its start in " + std::to_string(settings_.steps) +
                      " steps (best lr " + nos::format_number(best_lr) + "; needs < " +
                      nos::format_number(kMaxLossRatio) + ")";
  }
  return verdict;
}

}  // namespace nos::search
