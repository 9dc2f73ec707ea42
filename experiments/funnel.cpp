// Funnel selection: each stage a comparison against its baseline, gated in seed standard deviations (funnel.h).
#include "experiments/funnel.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/text.h"
#include "experiments/run_compare.h"
#include "optimizers/optimizers.h"
#include "search/run.h"
#include "tasks/evaluator.h"

namespace nos::experiments {

namespace {

// The search's best distinct rules with status ok, leaving out one whose canonical form is `skip`.
std::vector<std::string> search_winners(const search::Store& store, int top_k, const std::string& skip) {
  std::vector<std::string> out;
  for (const search::Leader& leader : store.leaderboard(std::max(4 * top_k, top_k + 50))) {
    if (static_cast<int>(out.size()) == top_k) break;
    if (leader.status != tasks::Status::kOk || leader.canonical.empty()) continue;
    if (optimizers::canonical_text(optimizers::resolve_rule(leader.canonical)) == skip) continue;
    out.push_back(leader.canonical);
  }
  return out;
}

double zero_if_nan(double x) { return std::isfinite(x) ? x : 0.0; }

// "5 rules + adam on fmnist-convnet (20000 images), 3 epochs, 5 seeds, lr tuned over 5": a stage as its start line.
std::string stage_line(const search::SearchConfig& config, size_t index, const CompareConfig& cc, size_t rules) {
  const search::FunnelStage& s = config.funnel[index];
  std::ostringstream line;
  line << "[funnel] stage " << index + 1 << "/" << config.funnel.size() << " '" << funnel_stage_name(config, index)
       << "': " << rules << " rule" << (rules == 1 ? "" : "s") << (s.baseline == "none" ? "" : " + " + s.baseline)
       << " on " << cc.task;
  if (cc.train_size > 0) line << " (" << cc.train_size << " images)";
  line << ", " << cc.epochs << " epoch" << (cc.epochs == 1 ? "" : "s") << ", " << cc.seeds << " seed"
       << (cc.seeds == 1 ? "" : "s") << ", "
       << (s.protocol == "fixed" ? "lr " + format_number(s.lr) : "lr tuned over " + std::to_string(s.lr_grid.size()));
  return line.str();
}

std::string result_line(size_t index, const std::vector<search::FunnelRow>& rows) {
  int passed = 0, promoted = 0, candidates = 0;
  for (const search::FunnelRow& r : rows) {
    if (r.baseline) continue;
    ++candidates;
    passed += r.passed ? 1 : 0;
    promoted += r.promoted ? 1 : 0;
  }
  std::ostringstream line;
  line << "[funnel] stage " << index + 1 << " done: " << passed << " of " << candidates << " passed the gate, "
       << promoted << " go on";
  return line.str();
}

}  // namespace

std::string funnel_stage_name(const search::SearchConfig& config, size_t index) {
  const std::string& name = config.funnel.at(index).name;
  return name.empty() ? "stage-" + std::to_string(index + 1) : name;
}

std::string funnel_stage_dir(const std::string& run_dir, const search::SearchConfig& config, size_t index) {
  return run_dir + "/funnel/" + funnel_stage_name(config, index);
}

CompareConfig funnel_compare_config(const search::SearchConfig& config, size_t index, const std::string& run_dir) {
  const search::FunnelStage& s = config.funnel.at(index);
  const search::TaskSettings& t = config.task;
  CompareConfig cc;
  cc.native_references = false;
  cc.task = s.task.empty() ? t.task : s.task;
  cc.epochs = s.epochs;
  cc.seeds = s.seeds;
  cc.first_seed = s.first_seed;
  cc.tune_seed = s.tune_seed;
  cc.split = s.split;
  if (s.protocol == "fixed") {
    cc.lr_grid = {s.lr};
    cc.tune_epochs = s.epochs;
    cc.tune_seed = s.first_seed;  // one lr chooses nothing: its run is the first seed
  } else {
    cc.lr_grid = s.lr_grid;
    cc.tune_epochs = s.tune_epochs;
  }
  cc.batch_size = s.batch_size;
  cc.recipe = t.recipe;  // the search's training recipe: the funnel compares rules as the search trained them
  cc.train_size = s.train_size;
  cc.validation_size = s.validation_size;
  cc.device = t.device;
  cc.dtype = t.dtype;
  const bool same_data = tasks::parse_task_name(cc.task).dataset == tasks::parse_task_name(t.task).dataset;
  cc.data_dir = !s.data_dir.empty() ? s.data_dir : same_data ? t.data_dir : std::string();
  cc.cache_dir = t.cache_dir;
  cc.threads = t.threads;
  cc.jobs = config.workers;
  cc.population = t.population;
  cc.out = funnel_stage_dir(run_dir, config, index);
  return cc;
}

std::vector<search::FunnelRow> gate_stage(const search::SearchConfig& config, size_t index,
                                          const std::vector<RowSummary>& candidates, const RowSummary* baseline,
                                          int next_top_k) {
  const search::FunnelStage& s = config.funnel.at(index);
  std::vector<search::FunnelRow> rows;
  auto row_of = [&](const RowSummary& r) {
    search::FunnelRow f;
    f.stage = static_cast<int64_t>(index);
    f.stage_name = funnel_stage_name(config, index);
    f.rule = r.row.rule;
    f.val_mean = r.final_val.mean;
    f.val_std = r.final_val.std;
    f.test_mean = r.final_test.mean;
    f.test_std = r.final_test.std;
    f.lr = r.lr;
    f.seeds_ok = r.seeds_ok;
    return f;
  };
  const bool gated = baseline != nullptr && baseline->seeds_ok > 0 && std::isfinite(baseline->final_val.mean);
  for (const RowSummary& c : candidates) {
    search::FunnelRow f = row_of(c);
    const bool ok = c.seeds_ok > 0 && std::isfinite(f.val_mean);
    if (gated) {
      const double sd_rule = zero_if_nan(c.final_val.std), sd_base = zero_if_nan(baseline->final_val.std);
      f.threshold = baseline->final_val.mean + s.margin * std::sqrt((sd_rule * sd_rule + sd_base * sd_base) / 2);
    }
    f.passed = ok && (!gated || f.val_mean > f.threshold);
    rows.push_back(f);
  }
  // Best first; a rule without an ok seed last (stable: ties keep the stage's order).
  std::stable_sort(rows.begin(), rows.end(), [](const search::FunnelRow& a, const search::FunnelRow& b) {
    const double x = std::isfinite(a.val_mean) ? a.val_mean : -1, y = std::isfinite(b.val_mean) ? b.val_mean : -1;
    return x > y;
  });
  int promoted = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].position = static_cast<int64_t>(i);
    if (rows[i].passed && promoted < next_top_k) {
      rows[i].promoted = true;
      ++promoted;
    }
  }
  if (baseline != nullptr) {
    search::FunnelRow b = row_of(*baseline);
    b.baseline = true;
    b.position = static_cast<int64_t>(rows.size());
    rows.push_back(b);
  }
  return rows;
}

FunnelResult run_funnel(const search::SearchConfig& config, const std::string& run_dir, const FunnelRuntime& runtime) {
  NOS_CHECK(!config.funnel.empty(), "run_funnel without stages");
  FunnelResult result;
  search::Store store(search::store_path(run_dir), search::Store::Mode::kOpen);
  std::vector<std::string> entering;
  for (size_t i = 0; i < config.funnel.size(); ++i) {
    const search::FunnelStage& s = config.funnel[i];
    const bool has_baseline = s.baseline != "none";
    const std::string baseline_canonical =
        has_baseline ? optimizers::canonical_text(optimizers::resolve_rule(s.baseline)) : std::string();
    if (i == 0) entering = search_winners(store, s.top_k, baseline_canonical);
    std::vector<CompareRow> rows;
    for (const std::string& rule : entering) {
      CompareRow row;
      row.rule = row.label = rule;
      row.canonical = optimizers::canonical_text(optimizers::resolve_rule(rule));
      row.kind = "dsl";
      row.origin = i == 0 ? "search #" + std::to_string(rows.size() + 1)
                          : funnel_stage_name(config, i - 1) + " #" + std::to_string(rows.size() + 1);
      if (row.canonical != baseline_canonical) rows.push_back(row);
    }
    if (rows.empty()) {
      result.notes.push_back("funnel stage '" + funnel_stage_name(config, i) + "': no rule entered it (" +
                             (i == 0 ? "the search has no rule with status ok" : "none passed the stage before") +
                             "); the funnel ends there");
      break;
    }
    const size_t candidates = rows.size();
    if (has_baseline) {
      const optimizers::ResolvedRule resolved = optimizers::resolve_rule(s.baseline);
      CompareRow row;
      row.rule = row.label = s.baseline;
      row.canonical = baseline_canonical;
      row.kind = optimizers::kind_label(resolved);
      row.origin = "baseline";
      rows.push_back(row);
    }
    CompareConfig cc = funnel_compare_config(config, i, run_dir);
    for (const CompareRow& row : rows) cc.rules.push_back(row.rule);
    if (runtime.on_stage) runtime.on_stage(stage_line(config, i, cc, candidates));
    const std::unique_ptr<dispatch::EvaluatorPool> pool = runtime.make_pool(cc);
    CompareRuntime rt;
    rt.pool = pool.get();
    rt.context = runtime.context;
    rt.stop = runtime.stop;
    rt.on_progress = runtime.on_progress;
    const CompareResult compared = run_compare(cc, rows, rt);
    result.executed += compared.executed;
    result.skipped += compared.skipped;
    for (const std::string& note : compared.notes) result.notes.push_back(note);
    if (compared.interrupted) {
      result.interrupted = true;
      break;
    }
    if (compared.failed > 0) {
      result.failed = compared.failed;
      break;
    }
    NOS_CHECK(compared.summary.size() == rows.size(), "a stage's summary has " << compared.summary.size()
                                                                                << " rows for " << rows.size());
    const std::vector<RowSummary> summaries(compared.summary.begin(), compared.summary.begin() + candidates);
    const int next_top_k = i + 1 < config.funnel.size() ? config.funnel[i + 1].top_k : 0;
    const std::vector<search::FunnelRow> stored =
        gate_stage(config, i, summaries, has_baseline ? &compared.summary.back() : nullptr, next_top_k);
    store.put_funnel_stage(static_cast<int64_t>(i), stored);
    if (runtime.on_stage) runtime.on_stage(result_line(i, stored));
    entering.clear();
    for (const search::FunnelRow& r : stored) {
      result.rows.push_back(r);
      if (r.promoted) entering.push_back(r.rule);
    }
  }
  return result;
}

}  // namespace nos::experiments
