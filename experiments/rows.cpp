// resolve_rows: config.rules into rows — named rules and DSL text, a search run's best rules, native references.
#include "experiments/rows.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "common/error.h"
#include "experiments/csv.h"
#include "experiments/files.h"
#include "experiments/folder.h"
#include "optimizers/optimizers.h"
#include "search/config.h"
#include "search/store.h"
#include "tasks/evaluator.h"
#include "tasks/trainer.h"

namespace nos::experiments {

namespace {

// A reference to a search run's found rules: "@RUN_DIR" (its best), "@RUN_DIR:topN" (its N best) or "@RUN_DIR:#K"
// (its K-th best), ranks over the distinct rules with status ok, best first.
struct RunSpec {
  std::string dir;
  int first = 1;  // the first rank named
  int count = 1;  // how many ranks from there
};

// Parses one of those; a UserError naming `where` for anything else starting with '@'.
RunSpec parse_run_spec(const std::string& spec, const std::string& where) {
  auto bad = [&](const std::string& why) {
    throw UserError(where + ": '" + spec + "': " + why +
                    " (expected @RUN_DIR, @RUN_DIR:topN or @RUN_DIR:#K, e.g. @runs/demo:top3)");
  };
  auto number = [&](const std::string& text) {
    int n = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || n < 1 || n > 1000) {
      bad("N and K must be whole numbers from 1 to 1000");
    }
    return n;
  };
  RunSpec r;
  const size_t colon = spec.rfind(':');
  const std::string tail = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (tail.rfind("top", 0) == 0) {
    r.count = number(tail.substr(3));
  } else if (tail.rfind('#', 0) == 0) {
    r.first = number(tail.substr(1));
  } else if (colon != std::string::npos && !tail.empty() && tail.find('/') == std::string::npos) {
    bad("'" + tail + "' is neither topN nor #K");
  }
  r.dir = spec.substr(1, (tail.rfind("top", 0) == 0 || tail.rfind('#', 0) == 0) ? colon - 1 : std::string::npos);
  if (r.dir.empty()) bad("no RUN_DIR");
  return r;
}

// The found rules `spec` names: the run's distinct rules with status ok, best first, ranks first … first+count−1.
std::vector<search::Leader> found_rules(const RunSpec& spec, const std::string& entry, const std::string& where) {
  const std::string db = spec.dir + "/search.db";
  if (!exists(db)) {
    throw UserError(where + ": '" + entry + "': no search run in '" + spec.dir + "' (" + db + " is missing)");
  }
  const int upto = spec.first + spec.count - 1;
  std::vector<search::Leader> leaders;
  try {
    search::Store store(db, search::Store::Mode::kReadOnly);
    leaders = store.leaderboard(std::max(upto * 4, upto + 50));
  } catch (const UserError& e) {
    throw UserError(where + ": '" + entry + "': " + e.what());
  }
  std::vector<search::Leader> ranked;
  for (const search::Leader& leader : leaders) {
    if (leader.status == tasks::Status::kOk && !leader.canonical.empty()) ranked.push_back(leader);
  }
  if (ranked.empty()) {
    throw UserError(where + ": '" + entry + "': the search run in '" + spec.dir + "' has no rule with status ok yet");
  }
  if (static_cast<int>(ranked.size()) < spec.first) {
    throw UserError(where + ": '" + entry + "': the search run in '" + spec.dir + "' has " +
                    std::to_string(ranked.size()) + " rules with status ok, fewer than " + std::to_string(spec.first));
  }
  const auto begin = ranked.begin() + (spec.first - 1);
  return std::vector<search::Leader>(begin, begin + std::min<ptrdiff_t>(spec.count, ranked.end() - begin));
}

// A comparison of a search's rules confirms them: on other images than the search ranked them on, and other seeds
// (its tuning seed and final seeds none of the children's), unless split is legacy (reproducing an old report).
void check_apart_from_search(const CompareConfig& config, const RunSpec& spec, const std::string& entry,
                             const std::string& where) {
  if (config.split == "legacy") return;
  if (config.split == "selection") {
    throw UserError(where + ": '" + entry + "': split is selection, the images the search ranked its rules on; a "
                    "comparison of found rules confirms them on others (split: confirmation)");
  }
  const std::string path = spec.dir + "/config.yaml";
  if (!exists(path)) return;  // a store without its config: nothing to check against
  const std::vector<uint64_t> used = search::selection_seeds(search::parse_recorded_config(read_text(path), path));
  const std::vector<uint64_t> mine = final_seeds(config);
  for (uint64_t seed : used) {
    const bool tuning = config.lr_grid.size() > 1 && seed == config.tune_seed;
    if (!tuning && std::find(mine.begin(), mine.end(), seed) == mine.end()) continue;
    throw UserError(where + ": '" + entry + "': seed " + std::to_string(seed) + " trained the search's children and is " +
                    (tuning ? "the tuning seed" : "one of the final seeds") +
                    " here: set first_seed and tune_seed apart from the search's seeds (or split: legacy)");
  }
}

// The rows of a run reference ("@RUN_DIR:topN" and the others): one per found rule it names.
std::vector<CompareRow> search_run_rows(const std::string& entry, const std::string& where) {
  const RunSpec spec = parse_run_spec(entry, where);
  std::vector<CompareRow> rows;
  int rank = spec.first;
  for (const search::Leader& leader : found_rules(spec, entry, where)) {
    CompareRow row;
    row.rule = leader.canonical;
    row.label = leader.canonical;
    row.canonical = optimizers::canonical_text(optimizers::resolve_rule(leader.canonical));
    row.kind = "dsl";
    row.origin = entry + " #" + std::to_string(rank++) + " (search reward " + csv_number(leader.best_reward) + ")";
    rows.push_back(row);
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
  row.kind = optimizers::kind_label(resolved);
  row.origin = "rules[" + std::to_string(index) + "]";
  return row;
}

// Whether two rules of one canonical form also train alike: a named rule's own options (adamw's decoupled decay,
// a rule's coupled decay, momentum without bias correction) set it apart; the default lr does not (it is tuned).
bool trains_alike(const std::string& a, const std::string& b) {
  if (a.rfind(optimizers::kLstmRulePrefix, 0) == 0 || b.rfind(optimizers::kLstmRulePrefix, 0) == 0) return true;
  const optimizers::RuleOptions x = optimizers::resolve_rule(a).defaults, y = optimizers::resolve_rule(b).defaults;
  return x.weight_decay() == y.weight_decay() && x.decoupled_weight_decay() == y.decoupled_weight_decay() &&
         x.bias_correction() == y.bias_correction();
}

// Appends `row` unless a row of the same kind has its canonical form: listing one rule twice is a UserError, or a note
// where `notes` is given (a report folder made before the canonical forms met).
void add_once(std::vector<CompareRow>& rows, CompareRow row, const std::string& source,
              std::vector<std::string>* notes) {
  for (const CompareRow& r : rows) {
    if (r.kind != row.kind || r.canonical != row.canonical || !trains_alike(r.rule, row.rule)) continue;
    if (notes != nullptr) {
      notes->push_back(row.origin + " ('" + row.label + "') and " + r.origin + " ('" + r.label +
                       "') are one rule today (canonical form '" + row.canonical +
                       "'); both rows are kept, as the report folder holds both");
      break;
    }
    throw UserError(source + ": " + row.origin + " ('" + row.label + "') is the same rule as " + r.origin + " ('" +
                    r.label + "'): canonical form '" + row.canonical + "'; list each rule once");
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

std::vector<CompareRow> resolve_rows(const CompareConfig& config, const std::string& source,
                                     std::vector<std::string>* notes) {
  // A report folder's rows were accepted when it was made.
  std::vector<std::string>* kept = notes != nullptr && exists(config.out + "/" + kCompareConfig) ? notes : nullptr;
  if (config.rules.empty()) throw UserError(source + ": key 'rules': no rules to compare (e.g. rules: [adam, powersign])");
  std::vector<CompareRow> rows;
  for (size_t i = 0; i < config.rules.size(); ++i) {
    const std::string& entry = config.rules[i];
    const std::string where = source + ": rules[" + std::to_string(i) + "]";
    if (!entry.empty() && entry[0] == '@') {
      check_apart_from_search(config, parse_run_spec(entry, where), entry, where);
      for (CompareRow& row : search_run_rows(entry, where)) add_once(rows, std::move(row), source, kept);
    } else {
      add_once(rows, rule_row(entry, i, where), source, kept);
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

std::string resolve_rule_reference(const std::string& text, const std::string& where) {
  if (text.empty() || text[0] != '@') return text;
  const RunSpec spec = parse_run_spec(text, where);
  if (spec.count > 1) {
    throw UserError(where + ": '" + text + "' names " + std::to_string(spec.count) +
                    " rules, and one rule is taken here: @" + spec.dir + ":top1 (the best) or @" + spec.dir +
                    ":#K (the K-th best)");
  }
  return found_rules(spec, text, where).front().canonical;
}

}  // namespace nos::experiments
