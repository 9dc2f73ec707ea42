// resolve_rows: config.rules into rows — named rules and DSL text, a search run's best rules, native references.
#include "experiments/rows.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "common/error.h"
#include "experiments/csv.h"
#include "experiments/files.h"
#include "optimizers/optimizers.h"
#include "search/store.h"
#include "tasks/evaluator.h"
#include "tasks/trainer.h"

namespace nos::experiments {

namespace {

// "@RUN_DIR:topN" → (RUN_DIR, N); throws a UserError for anything else starting with '@'.
std::pair<std::string, int> parse_run_spec(const std::string& spec, const std::string& where) {
  const size_t colon = spec.rfind(':');
  auto bad = [&](const std::string& why) {
    throw UserError(where + ": '" + spec + "': " + why + " (expected @RUN_DIR:topN, e.g. @runs/demo:top3)");
  };
  if (colon == std::string::npos || colon == 1) bad("no RUN_DIR:topN");
  const std::string dir = spec.substr(1, colon - 1);
  const std::string top = spec.substr(colon + 1);
  if (top.rfind("top", 0) != 0) bad("'" + top + "' is not topN");
  int n = 0;
  const char* begin = top.data() + 3;
  const char* end = top.data() + top.size();
  auto [ptr, ec] = std::from_chars(begin, end, n);
  if (begin == end || ec != std::errc() || ptr != end || n < 1 || n > 1000) bad("N must be a whole number >= 1");
  return {dir, n};
}

// The rows of "@RUN_DIR:topN": the N best distinct rules of the run's leaderboard with status ok.
std::vector<CompareRow> search_run_rows(const std::string& entry, const std::string& where) {
  const auto [dir, n] = parse_run_spec(entry, where);
  const std::string db = dir + "/search.db";
  if (!exists(db)) throw UserError(where + ": '" + entry + "': no search run in '" + dir + "' (" + db + " is missing)");
  std::vector<search::Leader> leaders;
  try {
    search::Store store(db, search::Store::Mode::kReadOnly);
    leaders = store.leaderboard(std::max(n * 4, n + 50));
  } catch (const UserError& e) {
    throw UserError(where + ": '" + entry + "': " + e.what());
  }
  std::vector<CompareRow> rows;
  for (const search::Leader& leader : leaders) {
    if (static_cast<int>(rows.size()) == n) break;
    if (leader.status != "ok" || leader.canonical.empty()) continue;
    CompareRow row;
    row.rule = leader.canonical;
    row.label = leader.canonical;
    row.canonical = optimizers::canonical_text(optimizers::resolve_rule(leader.canonical));
    row.kind = "dsl";
    row.origin = entry + " #" + std::to_string(rows.size() + 1) + " (search reward " +
                 csv_number(leader.best_reward) + ")";
    rows.push_back(row);
  }
  if (rows.empty()) {
    throw UserError(where + ": '" + entry + "': the search run in '" + dir + "' has no rule with status ok yet");
  }
  return rows;
}

// The row of a named rule or DSL text, config.rules[index].
CompareRow rule_row(const std::string& entry, size_t index, const std::string& where) {
  optimizers::ResolvedRule resolved;
  try {
    resolved = optimizers::resolve_rule(entry);
  } catch (const UserError& e) {
    throw UserError(where + ": '" + entry + "' is not a named rule (see 'nos rules') nor valid rule text:\n" +
                    e.what());
  }
  CompareRow row;
  row.rule = entry;
  row.label = entry;
  row.canonical = optimizers::canonical_text(resolved);
  row.kind = resolved.native ? "native" : !resolved.lstm_path.empty() ? "learned" : "dsl";
  row.origin = "rules[" + std::to_string(index) + "]";
  return row;
}

// Appends `row` unless a row of the same kind has its canonical form: listing one rule twice is a UserError.
void add_once(std::vector<CompareRow>& rows, CompareRow row, const std::string& source) {
  for (const CompareRow& r : rows) {
    if (r.kind == row.kind && r.canonical == row.canonical) {
      throw UserError(source + ": " + row.origin + " ('" + row.label + "') is the same rule as " + r.origin +
                      " ('" + r.label + "'): canonical form '" + row.canonical + "'; list each rule once");
    }
  }
  rows.push_back(std::move(row));
}

// Each DSL row that has a LibTorch twin (adam → torch-adam) followed by that twin's row, unless it is listed.
std::vector<CompareRow> with_native_references(const std::vector<CompareRow>& rows) {
  std::vector<CompareRow> out;
  for (const CompareRow& row : rows) {
    out.push_back(row);
    const optimizers::NativeRule* native = row.kind == "dsl" ? optimizers::find_native_twin(row.rule) : nullptr;
    if (native == nullptr) continue;
    bool listed = false;
    for (const CompareRow& r : rows) listed = listed || r.rule == native->name;
    if (listed) continue;
    CompareRow ref;
    ref.rule = native->name;
    ref.label = native->name;
    ref.canonical = native->text;
    ref.kind = "native";
    ref.origin = "reference for " + row.label;
    out.push_back(ref);
  }
  return out;
}

}  // namespace

std::vector<CompareRow> resolve_rows(const CompareConfig& config, const std::string& source) {
  if (config.rules.empty()) throw UserError(source + ": key 'rules': no rules to compare (e.g. rules: [adam, powersign])");
  std::vector<CompareRow> rows;
  for (size_t i = 0; i < config.rules.size(); ++i) {
    const std::string& entry = config.rules[i];
    const std::string where = source + ": rules[" + std::to_string(i) + "]";
    if (!entry.empty() && entry[0] == '@') {
      for (CompareRow& row : search_run_rows(entry, where)) add_once(rows, std::move(row), source);
    } else {
      add_once(rows, rule_row(entry, i, where), source);
    }
  }
  return config.native_references ? with_native_references(rows) : rows;
}

std::vector<std::string> check_row_recipes(const CompareConfig& config, const std::vector<CompareRow>& rows,
                                           const std::string& source) {
  const std::string model = tasks::parse_task_name(config.task).model;
  std::vector<std::string> warnings;
  for (const CompareRow& row : rows) {
    const optimizers::ResolvedRule rule = optimizers::resolve_rule(row.rule);
    try {
      tasks::check_rule_recipe(rule, model, config.recipe);
    } catch (const UserError& e) {
      const bool reference = row.origin.rfind("reference for ", 0) == 0;
      throw UserError(source + ": " + row.origin + " ('" + row.label + "'), before any run: " + e.what() +
                      " (the weight decay comes from --weight-decay and --weight-decay-mode, or the config keys "
                      "weight_decay and weight_decay_mode)" +
                      (reference ? "; or leave out the native reference rows with --no-native" : ""));
    }
    const std::string warning = tasks::rule_recipe_warning(rule, config.recipe);
    if (!warning.empty()) warnings.push_back(row.origin + ": " + warning);
  }
  return warnings;
}

}  // namespace nos::experiments
