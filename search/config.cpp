// The search config's YAML schema: typed reading with key paths in every message, validation, and writing back.
#include "search/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>

#include "dsl/ast.h"
#include "optimizers/optimizers.h"
#include "common/error.h"
#include "search/proposer.h"
#include "search/token_space.h"
#include "common/yaml_reader.h"
#include "tasks/objectives.h"
#include "tasks/settings_yaml.h"

namespace nos::search {

namespace {

const std::map<std::string, std::vector<std::string>>& sections() {
  static const std::map<std::string, std::vector<std::string>> table = {
      {"", {"proposer", "budget", "max_trained", "batch_size", "workers", "seed", "fec_cache", "task", "prefilter",
            "hurdle", "fitness", "space", "controller", "evolution", "funnel"}},
      {"task", {"name", "epochs", "steps", "batch_size", "lr", "lr_grid", "lr_search", "schedule", "weight_decay",
                "weight_decay_mode", "weight_decay_mask", "clip_norm", "clip_value", "train_size",
                "validation_size", "test_accuracy", "device", "dtype", "seed", "data_dir", "cache_dir", "time_limit",
                "kill_grace", "threads", "population"}},
      {"prefilter", {"enabled", "probe", "objective", "steps", "lr_grid"}},
      {"hurdle", {"enabled", "percentile", "min_children"}},
      {"space", {"units", "operands", "unary", "binary"}},
      {"controller", {"hidden", "lr", "baseline_decay", "entropy_weight", "temperature", "resample_repeats",
                      "escape", "algorithm", "ppo_epochs", "ppo_clip"}},
      {"fitness", {"seeds", "aggregate", "tasks", "baseline"}},
      {"fitness.tasks", {"name", "epochs", "steps", "batch_size", "lr", "lr_grid", "train_size", "validation_size",
                         "data_dir"}},
      {"funnel", {"name", "top_k", "task", "epochs", "batch_size", "train_size", "validation_size", "seeds",
                  "protocol", "lr_grid", "tune_epochs", "lr", "baseline", "margin", "data_dir"}},
      {"evolution", {"population", "tournament", "unit_mutation", "constant_mutation", "insert_delete", "restart_after",
                     "restart_from", "warm_start"}},
  };
  return table;
}

// A vocabulary entry must be one token of its kind: checked inside a unit made of valid defaults. Returns why it is
// not, or "" when it is.
std::string token_problem(const std::string& token, int kind) {
  const std::string text = kind == 0 ? token + " g id id add"
                         : kind == 1 ? "g g " + token + " id add"
                                     : "g g id id " + token;
  dsl::TokenParseResult r = dsl::try_parse_tokens(text);
  if (r.diagnostics.empty() && r.units.size() == 1) return "";
  static const char* kKinds[3] = {"an operand", "a unary function", "a binary function"};
  // The diagnostic names a position in the probe unit above, which means nothing here: only its suggestion is kept.
  std::string suggestion;
  if (!r.diagnostics.empty()) {
    const std::string& m = r.diagnostics[0].message;
    const size_t at = m.find("(did you mean");
    if (at != std::string::npos) suggestion = " " + m.substr(at);
  }
  return "'" + token + "' is not " + kKinds[kind] + " token" + suggestion;
}

// The training setting a task section's key names: the key itself, but `name` for the task.
std::string setting_key(const std::string& key) { return key == "name" ? "task" : key; }

// One key of a task section (task:, an entry of fitness.tasks) read into t through the settings' field table.
void read_task_key(const YamlReader& r, const std::string& k, const YAML::Node& x, const std::string& p,
                   TaskSettings& t) {
  tasks::read_setting(r, setting_key(k), x, p, t);
}

// One key of a task section as YAML text ("" for a key written only when set, at its default).
std::string task_value_yaml(const TaskSettings& t, const std::string& k) {
  return tasks::setting_yaml(t, setting_key(k));
}

// fitness.tasks: one mapping per task, each key's path naming its entry ("fitness.tasks[0].epochs").
std::vector<FitnessTask> parse_fitness_tasks(const YamlReader& r, const YAML::Node& v, const std::string& path) {
  std::vector<FitnessTask> out;
  if (v.IsNull()) return out;
  if (!v.IsSequence()) r.fail(v, path, "expected a list of tasks (each a mapping with at least name)");
  for (size_t i = 0; i < v.size(); ++i) {
    FitnessTask t;
    const std::string at = path + "[" + std::to_string(i) + "]";
    r.each_key(v[i], "fitness.tasks", [&](const std::string& k, const YAML::Node& x, const std::string& p) {
      read_task_key(r, k, x, p, t.settings);
      t.keys.push_back(k);
    }, at);
    if (!t.has("name")) r.fail(v[i], at + ".name", "is required (the task's name, e.g. fmnist-mlp)");
    out.push_back(t);
  }
  return out;
}

// The `funnel:` list: one mapping per stage, each key's path naming its entry ("funnel[1].seeds").
std::vector<FunnelStage> parse_funnel(const YamlReader& r, const YAML::Node& v, const std::string& path) {
  constexpr int64_t kBig = int64_t{1} << 40;
  std::vector<FunnelStage> stages;
  if (v.IsNull()) return stages;
  if (!v.IsSequence()) r.fail(v, path, "expected a list of stages (each a mapping of funnel keys)");
  for (size_t i = 0; i < v.size(); ++i) {
    FunnelStage s;
    const std::string at = path + "[" + std::to_string(i) + "]";
    r.each_key(v[i], "funnel", [&](const std::string& k, const YAML::Node& x, const std::string& p) {
      if (k == "name") {
        s.name = r.scalar(x, p);
        const bool plain = !s.name.empty() && std::all_of(s.name.begin(), s.name.end(), [](char ch) {
          return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
        });
        if (!s.name.empty() && (!plain || s.name[0] == '.')) {
          r.fail(x, p, "expected letters, digits, '-', '_' or '.' (it names a folder)");
        }
      } else if (k == "top_k") {
        s.top_k = r.integer<int>(x, p, 1, 1000);
      } else if (k == "task") {
        s.task = r.scalar(x, p);
        bool analytic = false;
        try {
          analytic = !s.task.empty() && tasks::parse_task_name(s.task).analytic;
        } catch (const UserError& e) {
          r.fail(x, p, e.what());
        }
        if (analytic) r.fail(x, p, "expected an image task (<dataset>-<model>), got '" + s.task + "'");
      } else if (k == "epochs") {
        s.epochs = r.integer<int64_t>(x, p, 1, kBig);
      } else if (k == "batch_size") {
        s.batch_size = r.integer<int64_t>(x, p, 1, kBig);
      } else if (k == "train_size") {
        s.train_size = r.integer<int64_t>(x, p, -1, kBig);
        if (s.train_size == 0) r.fail(x, p, "expected -1 (all) or a count >= 1, got 0");
      } else if (k == "validation_size") {
        s.validation_size = r.integer<int64_t>(x, p, -1, kBig);
      } else if (k == "seeds") {
        s.seeds = r.integer<int>(x, p, 1, 1000);
      } else if (k == "protocol") {
        s.protocol = r.choice(x, p, {"tune", "fixed"});
      } else if (k == "lr_grid") {
        s.lr_grid = r.positive_numbers(x, p);
      } else if (k == "tune_epochs") {
        s.tune_epochs = r.integer<int64_t>(x, p, 1, kBig);
      } else if (k == "lr") {
        s.lr = r.number(x, p, 0);
      } else if (k == "baseline") {
        s.baseline = r.scalar(x, p);
      } else if (k == "margin") {
        s.margin = r.number(x, p, 0);
      } else if (k == "data_dir") {
        s.data_dir = x.IsNull() ? std::string() : r.scalar(x, p);
      }
    }, at);
    stages.push_back(s);
  }
  return stages;
}

}  // namespace

const std::vector<std::string>& config_keys(const std::string& section) {
  auto found = sections().find(section);
  NOS_CHECK(found != sections().end(), "no config section '" << section << "'");
  return found->second;
}

std::vector<std::string> task_setting_keys() {
  std::vector<std::string> keys;
  for (const std::string& key : config_keys("task")) keys.push_back(key == "name" ? "name=task" : key);
  return keys;
}

SearchConfig parse_config(const std::string& yaml_text, const std::string& source) {
  const YAML::Node root = load_yaml(yaml_text, source);
  SearchConfig c;
  if (root.IsNull()) {
    validate(c, source);
    return c;
  }
  const YamlReader r(source, sections());
  constexpr int64_t kBig = int64_t{1} << 40;
  r.each_key(root, "", [&](const std::string& key, const YAML::Node& v, const std::string& path) {
    if (key == "proposer") {
      c.proposer = r.choice(v, path, proposer_names());
    } else if (key == "budget") {
      c.budget = r.integer<int64_t>(v, path, 1, kBig);
    } else if (key == "max_trained") {
      c.max_trained = r.integer<int64_t>(v, path, 0, kBig);
    } else if (key == "batch_size") {
      c.batch_size = r.integer<int>(v, path, 1, 100000);
    } else if (key == "workers") {
      c.workers = r.integer<int>(v, path, 1, 1024);
    } else if (key == "seed") {
      c.seed = r.integer<uint64_t>(v, path, 0, UINT64_MAX);
    } else if (key == "fec_cache") {
      c.fec_cache = r.scalar(v, path);
      if (c.fec_cache.empty()) r.fail(v, path, "expected run, none or the path of a cache file");
    } else if (key == "task") {
      r.each_key(v, "task", [&](const std::string& k, const YAML::Node& x, const std::string& p) {
        read_task_key(r, k, x, p, c.task);
      });
    } else if (key == "prefilter") {
      PrefilterSettings& f = c.prefilter;
      r.each_key(v, "prefilter", [&](const std::string& k, const YAML::Node& x, const std::string& p) {
        if (k == "enabled") {
          f.enabled = r.boolean(x, p);
        } else if (k == "probe") {
          f.probe = r.boolean(x, p);
        } else if (k == "objective") {
          std::vector<std::string> choices = tasks::objective_names();
          choices.push_back("none");
          f.objective = r.choice(x, p, choices);
        } else if (k == "steps") {
          f.steps = r.integer<int64_t>(x, p, 1, 1000000);
        } else if (k == "lr_grid") {
          f.lr_grid = r.positive_numbers(x, p);
        }
      });
    } else if (key == "hurdle") {
      HurdleSettings& h = c.hurdle;
      r.each_key(v, "hurdle", [&](const std::string& k, const YAML::Node& x, const std::string& p) {
        if (k == "enabled") {
          h.enabled = r.boolean(x, p);
        } else if (k == "percentile") {
          h.percentile = r.number(x, p, 0);
          if (h.percentile > 100) r.fail(x, p, "must be in [0, 100]");
        } else if (k == "min_children") {
          h.min_children = r.integer<int64_t>(x, p, 1, kBig);
        }
      });
    } else if (key == "space") {
      SpaceSettings& s = c.space;
      r.each_key(v, "space", [&](const std::string& k, const YAML::Node& x, const std::string& p) {
        if (k == "units") {
          s.units = r.integer<int>(x, p, 1, 16);
          return;
        }
        std::vector<std::string> tokens = r.strings(x, p);
        if (tokens.empty()) r.fail(x, p, "needs at least one token");
        const int kind = k == "operands" ? 0 : k == "unary" ? 1 : 2;
        for (size_t i = 0; i < tokens.size(); ++i) {
          const std::string problem = token_problem(tokens[i], kind);
          if (!problem.empty()) r.fail(x[i], p + "[" + std::to_string(i) + "]", problem);
        }
        (kind == 0 ? s.vocabulary.operands : kind == 1 ? s.vocabulary.unary : s.vocabulary.binary) = tokens;
      });
    } else if (key == "controller") {
      controller::ControllerOptions& o = c.controller;
      r.each_key(v, "controller", [&](const std::string& k, const YAML::Node& x, const std::string& p) {
        if (k == "hidden") {
          o.hidden = r.integer<int>(x, p, 1, 4096);
        } else if (k == "lr") {
          o.lr = r.number(x, p, 0, false);
        } else if (k == "baseline_decay") {
          o.baseline_decay = r.number(x, p, 0);
          if (o.baseline_decay >= 1) r.fail(x, p, "must be in [0, 1)");
        } else if (k == "entropy_weight") {
          o.entropy_weight = r.number(x, p, 0);
        } else if (k == "temperature") {
          o.temperature = r.number(x, p, 0, false);
        } else if (k == "resample_repeats") {
          o.resample_repeats = r.integer<int>(x, p, 0, 100000);
        } else if (k == "escape") {
          o.escape = r.choice(x, p, {"temperature", "none"});
        } else if (k == "algorithm") {
          o.algorithm = r.choice(x, p, {"reinforce", "ppo"});
        } else if (k == "ppo_epochs") {
          o.ppo_epochs = r.integer<int>(x, p, 1, 1000);
        } else if (k == "ppo_clip") {
          o.ppo_clip = r.number(x, p, 0, false);
          if (o.ppo_clip >= 1) r.fail(x, p, "must be in (0, 1)");
        }
      });
    } else if (key == "fitness") {
      FitnessSettings& f = c.fitness;
      r.each_key(v, "fitness", [&](const std::string& k, const YAML::Node& x, const std::string& p) {
        if (k == "seeds") {
          f.seeds = r.integer<int>(x, p, 1, 1000);
        } else if (k == "aggregate") {
          f.aggregate = r.choice(x, p, {"mean", "median"});
        } else if (k == "tasks") {
          f.tasks = parse_fitness_tasks(r, x, p);
        } else if (k == "baseline") {
          f.baseline = x.IsNull() ? std::string() : r.scalar(x, p);
        }
      });
    } else if (key == "funnel") {
      c.funnel = parse_funnel(r, v, path);
    } else if (key == "evolution") {
      EvolutionSettings& e = c.evolution;
      r.each_key(v, "evolution", [&](const std::string& k, const YAML::Node& x, const std::string& p) {
        if (k == "population") {
          e.population = r.integer<int>(x, p, 2, 1000000);
        } else if (k == "tournament") {
          e.tournament = r.integer<int>(x, p, 1, 1000000);
        } else if (k == "unit_mutation") {
          e.unit_mutation = r.number(x, p, 0);
          if (e.unit_mutation > 1) r.fail(x, p, "must be in [0, 1]");
        } else if (k == "constant_mutation") {
          e.constant_mutation = r.number(x, p, 0);
          if (e.constant_mutation > 1) r.fail(x, p, "must be in [0, 1]");
        } else if (k == "insert_delete") {
          e.insert_delete = r.number(x, p, 0);
          if (e.insert_delete > 1) r.fail(x, p, "must be in [0, 1]");
        } else if (k == "restart_after") {
          e.restart_after = r.integer<int64_t>(x, p, 0, 1000000000);
        } else if (k == "restart_from") {
          e.restart_from = r.choice(x, p, {"best", "warm_start"});
        } else if (k == "warm_start") {
          e.warm_start = x.IsNull() ? std::vector<std::string>{} : r.strings(x, p);
        }
      });
    }
  });
  validate(c, source);
  return c;
}

SearchConfig load_config(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw UserError(path + ": cannot open the config file (does it exist and is it readable?)");
  std::stringstream text;
  text << file.rdbuf();
  if (file.bad()) throw UserError(path + ": cannot read the config file");
  return parse_config(text.str(), path);
}

void validate(const SearchConfig& c, const std::string& source) {
  auto fail = [&](const std::string& path, const std::string& message) {
    throw UserError(source + ": key '" + path + "': " + message);
  };
  if (c.task.lr == 0 && c.task.lr_grid.empty()) fail("task.lr_grid", "is empty and task.lr is 0: give one of them");
  if (c.evolution.unit_mutation + c.evolution.constant_mutation + c.evolution.insert_delete > 1) {
    fail("evolution.unit_mutation", "unit_mutation + constant_mutation + insert_delete must not exceed 1");
  }
  if (c.evolution.restart_from == "warm_start" && c.evolution.restart_after > 0 && c.evolution.warm_start.empty()) {
    fail("evolution.restart_from", "is warm_start but evolution.warm_start is empty");
  }
  if (c.evolution.tournament > c.evolution.population) {
    fail("evolution.tournament", "must not exceed evolution.population (" + std::to_string(c.evolution.population) +
                                     "), got " + std::to_string(c.evolution.tournament));
  }
  const bool analytic = tasks::parse_task_name(c.task.task).analytic;
  if (analytic && !tasks::is_default(c.task.recipe)) {
    fail("task", "the training recipe (" + tasks::recipe_text(c.task.recipe) + ") applies to image tasks; '" +
                     c.task.task + "' is an analytic objective");
  }
  try {
    // What can be checked before the run's length is known (the rest is checked when a child starts).
    tasks::check_recipe(c.task.recipe, int64_t{1} << 40, 1);
  } catch (const UserError& e) {
    fail("task", e.what());
  }
  for (size_t i = 0; i < c.fitness.tasks.size(); ++i) {
    const std::string at = "fitness.tasks[" + std::to_string(i) + "]";
    if (tasks::parse_task_name(c.fitness.tasks[i].name()).analytic != analytic) {
      fail(at + ".name", "'" + c.fitness.tasks[i].name() + "' is " + (analytic ? "an image task" : "an analytic objective") +
                             " but task.name '" + c.task.task + "' is not: a child's tasks share their element type");
    }
    const TaskSettings t = fitness_task(c, i + 1);
    if (t.lr == 0 && t.lr_grid.empty()) fail(at + ".lr_grid", "is empty and lr is 0: give one of them");
  }
  if (!c.fitness.baseline.empty()) {
    try {
      optimizers::resolve_rule(c.fitness.baseline);
    } catch (const UserError& e) {
      fail("fitness.baseline", "'" + c.fitness.baseline + "' is not a named rule (see 'nos rules') nor valid rule "
                               "text: " + e.what());
    }
  }
  for (size_t i = 0; i < c.funnel.size(); ++i) {
    const FunnelStage& s = c.funnel[i];
    const std::string at = "funnel[" + std::to_string(i) + "]";
    if (s.protocol == "fixed" && s.lr <= 0) fail(at + ".lr", "protocol fixed needs an lr > 0");
    if (s.protocol == "tune" && s.lr_grid.empty()) fail(at + ".lr_grid", "protocol tune needs at least one lr");
    if (s.protocol == "tune" && s.tune_epochs > s.epochs) {
      fail(at + ".tune_epochs", "must not exceed epochs (" + std::to_string(s.epochs) + ")");
    }
    const std::string task = s.task.empty() ? c.task.task : s.task;
    if (tasks::parse_task_name(task).analytic) {
      fail(at + ".task", "the funnel trains image tasks; the search's task '" + task + "' is analytic: name one");
    }
    if (s.baseline.empty()) fail(at + ".baseline", "expected a named rule, DSL text or none");
    if (s.baseline != "none") {
      try {
        optimizers::resolve_rule(s.baseline);
      } catch (const UserError& e) {
        fail(at + ".baseline", "'" + s.baseline + "' is not a named rule (see 'nos rules') nor valid rule text: " +
                                   e.what());
      }
    }
    for (size_t j = 0; j < i; ++j) {
      if (!s.name.empty() && s.name == c.funnel[j].name) fail(at + ".name", "'" + s.name + "' names two stages");
    }
  }
  for (size_t i = 0; i < c.evolution.warm_start.size(); ++i) {
    try {
      rule_to_units(c.evolution.warm_start[i], c.space.units);
    } catch (const UserError& e) {
      fail("evolution.warm_start[" + std::to_string(i) + "]", e.what());
    }
  }
}

SearchConfig parse_recorded_config(const std::string& yaml_text, const std::string& source) {
  SearchConfig c = parse_config(yaml_text, source);
  const YAML::Node root = load_yaml(yaml_text, source);
  for (const auto& [section, keys] : sections()) {
    if (section.empty() || section.find('.') != std::string::npos) continue;
    if (!root[section]) {
      c.unwritten.push_back(section);
      continue;
    }
    if (!root[section].IsMap()) continue;
    for (const std::string& key : keys) {
      if (!root[section][key]) c.unwritten.push_back(section + "." + key);
    }
  }
  for (const std::string& key : sections().at("")) {
    if (!root[key] && sections().count(key) == 0) c.unwritten.push_back(key);
  }
  auto absent = [&](const std::string& path) {
    return std::find(c.unwritten.begin(), c.unwritten.end(), path) != c.unwritten.end();
  };
  if (absent("task.lr_search")) c.task.lr_search = "full";
  if (absent("task.test_accuracy")) c.task.test_accuracy = true;
  if (absent("hurdle")) c.hurdle.enabled = false;
  if (absent("evolution.constant_mutation")) c.evolution.constant_mutation = 0;
  if (absent("evolution.insert_delete")) c.evolution.insert_delete = 0;
  if (absent("controller.resample_repeats")) c.controller.resample_repeats = 0;
  if (absent("controller.escape")) c.controller.escape = "none";
  return c;
}

namespace {

// The YAML text without the lines of the key paths in `unwritten` (a section's header and its lines for a section).
std::string without_unwritten(const std::string& yaml, const std::vector<std::string>& unwritten) {
  if (unwritten.empty()) return yaml;
  auto listed = [&](const std::string& path) {
    return std::find(unwritten.begin(), unwritten.end(), path) != unwritten.end();
  };
  std::istringstream lines(yaml);
  std::string out;
  std::string section;
  for (std::string line; std::getline(lines, line);) {
    const size_t colon = line.find(':');
    if (line.rfind("  ", 0) != 0) {
      section = line.substr(0, colon);
      if (listed(section)) continue;
    } else if (listed(section)) {
      continue;
    } else if (line.rfind("    ", 0) != 0 && colon != std::string::npos &&
               listed(section + "." + trim(line.substr(0, colon)))) {
      continue;
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string all_keys_yaml(const SearchConfig& c);

std::string to_yaml(const SearchConfig& c) {
  return without_unwritten(all_keys_yaml(c), c.unwritten);
}

std::string all_keys_yaml(const SearchConfig& c) {
  std::ostringstream y;
  const TaskSettings& t = c.task;
  const controller::ControllerOptions& o = c.controller;
  y << "proposer: " << c.proposer << "\n"
    << "budget: " << c.budget << "\n"
    << "max_trained: " << c.max_trained << "\n"
    << "batch_size: " << c.batch_size << "\n"
    << "workers: " << c.workers << "\n"
    << "seed: " << c.seed << "\n"
    << "fec_cache: " << yaml_quoted(c.fec_cache) << "\n"
    << "task:\n";
  for (const std::string& k : config_keys("task")) {
    const std::string value = task_value_yaml(t, k);
    if (!value.empty()) y << "  " << k << ": " << value << "\n";
  }
  y << "prefilter:\n"
    << "  enabled: " << (c.prefilter.enabled ? "true" : "false") << "\n"
    << "  probe: " << (c.prefilter.probe ? "true" : "false") << "\n"
    << "  objective: " << c.prefilter.objective << "\n"
    << "  steps: " << c.prefilter.steps << "\n"
    << "  lr_grid: " << yaml_list(c.prefilter.lr_grid) << "\n"
    << "hurdle:\n"
    << "  enabled: " << (c.hurdle.enabled ? "true" : "false") << "\n"
    << "  percentile: " << nos::format_number(c.hurdle.percentile) << "\n"
    << "  min_children: " << c.hurdle.min_children << "\n"
    << "fitness:\n"
    << "  seeds: " << c.fitness.seeds << "\n"
    << "  aggregate: " << c.fitness.aggregate << "\n"
    << "  baseline: " << yaml_quoted(c.fitness.baseline) << "\n"
    << "  tasks:" << (c.fitness.tasks.empty() ? " []" : "") << "\n";
  for (const FitnessTask& t : c.fitness.tasks) {
    for (size_t i = 0; i < t.keys.size(); ++i) {
      y << (i == 0 ? "    - " : "      ") << t.keys[i] << ": " << task_value_yaml(t.settings, t.keys[i]) << "\n";
    }
  }
  y
    << "space:\n"
    << "  units: " << c.space.units << "\n"
    << "  operands: " << yaml_list(c.space.vocabulary.operands) << "\n"
    << "  unary: " << yaml_list(c.space.vocabulary.unary) << "\n"
    << "  binary: " << yaml_list(c.space.vocabulary.binary) << "\n"
    << "controller:\n"
    << "  hidden: " << o.hidden << "\n"
    << "  lr: " << nos::format_number(o.lr) << "\n"
    << "  baseline_decay: " << nos::format_number(o.baseline_decay) << "\n"
    << "  entropy_weight: " << nos::format_number(o.entropy_weight) << "\n"
    << "  temperature: " << nos::format_number(o.temperature) << "\n"
    << "  resample_repeats: " << o.resample_repeats << "\n"
    << "  escape: " << o.escape << "\n"
    << "  algorithm: " << o.algorithm << "\n"
    << "  ppo_epochs: " << o.ppo_epochs << "\n"
    << "  ppo_clip: " << nos::format_number(o.ppo_clip) << "\n"
    << "evolution:\n"
    << "  population: " << c.evolution.population << "\n"
    << "  tournament: " << c.evolution.tournament << "\n"
    << "  unit_mutation: " << nos::format_number(c.evolution.unit_mutation) << "\n"
    << "  constant_mutation: " << nos::format_number(c.evolution.constant_mutation) << "\n"
    << "  insert_delete: " << nos::format_number(c.evolution.insert_delete) << "\n"
    << "  restart_after: " << c.evolution.restart_after << "\n"
    << "  restart_from: " << c.evolution.restart_from << "\n"
    << "  warm_start: " << yaml_list(c.evolution.warm_start) << "\n";
  y << "funnel:" << (c.funnel.empty() ? " []" : "") << "\n";
  for (const FunnelStage& s : c.funnel) {
    y << "  - name: " << yaml_quoted(s.name) << "\n"
      << "    top_k: " << s.top_k << "\n"
      << "    task: " << yaml_quoted(s.task) << "\n"
      << "    epochs: " << s.epochs << "\n"
      << "    batch_size: " << s.batch_size << "\n"
      << "    train_size: " << s.train_size << "\n"
      << "    validation_size: " << s.validation_size << "\n"
      << "    seeds: " << s.seeds << "\n"
      << "    protocol: " << s.protocol << "\n"
      << "    lr_grid: " << yaml_list(s.lr_grid) << "\n"
      << "    tune_epochs: " << s.tune_epochs << "\n"
      << "    lr: " << nos::format_number(s.lr) << "\n"
      << "    baseline: " << yaml_quoted(s.baseline) << "\n"
      << "    margin: " << nos::format_number(s.margin) << "\n"
      << "    data_dir: " << yaml_quoted(s.data_dir) << "\n";
  }
  return y.str();
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::nan("");
  std::sort(values.begin(), values.end());
  const double at = p / 100.0 * static_cast<double>(values.size() - 1);
  const auto below = static_cast<size_t>(std::floor(at));
  const size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (at - static_cast<double>(below)) * (values[above] - values[below]);
}

namespace {

// The mean or the median of `values` (not empty).
double aggregate_of(std::vector<double> values, const std::string& aggregate) {
  if (aggregate == "median") {
    std::sort(values.begin(), values.end());
    const size_t m = values.size() / 2;
    return values.size() % 2 == 1 ? values[m] : 0.5 * (values[m - 1] + values[m]);
  }
  double sum = 0;
  for (double x : values) sum += x;
  return sum / static_cast<double>(values.size());
}

}  // namespace

double fitness_floor(const FitnessSettings& fitness, const std::vector<double>& baselines) {
  if (baselines.empty()) return 0;
  std::vector<double> negated;
  for (double b : baselines) negated.push_back(-b);
  return aggregate_of(negated, fitness.aggregate);
}

tasks::EvalRecord combine_fitness(const std::vector<tasks::EvalRecord>& records, const SearchConfig& config,
                                  const std::vector<double>& baselines) {
  const size_t tasks = fitness_task_count(config);
  const auto seeds = static_cast<size_t>(config.fitness.seeds);
  NOS_CHECK(records.size() == tasks * seeds, "combine_fitness: " << records.size() << " records for " << tasks
                                                                   << " tasks x " << seeds << " seeds");
  NOS_CHECK(baselines.empty() || baselines.size() == tasks, "combine_fitness: a baseline per task");
  auto task_record = [&](size_t t) {
    return aggregate_fitness(std::vector<tasks::EvalRecord>(records.begin() + static_cast<std::ptrdiff_t>(t * seeds),
                                                            records.begin() + static_cast<std::ptrdiff_t>((t + 1) * seeds)),
                             config.fitness);
  };
  const tasks::EvalRecord first = task_record(0);
  if (tasks == 1 && baselines.empty()) return first;
  tasks::EvalRecord out = first;
  std::vector<double> normalised;
  bool earned = false;
  std::ostringstream message;
  message << std::setprecision(4) << "tasks";
  out.seconds = 0;
  for (size_t t = 0; t < tasks; ++t) {
    const tasks::EvalRecord r = t == 0 ? first : task_record(t);
    const bool counts = (r.status == tasks::Status::kOk || r.status == tasks::Status::kHurdle) && std::isfinite(r.reward);
    earned = earned || counts;
    const double reward = counts ? r.reward : 0.0;
    const double baseline = baselines.empty() ? 0.0 : baselines[t];
    normalised.push_back(reward - baseline);
    message << (t == 0 ? " " : ", ") << fitness_task(config, t).task << " ";
    if (counts) {
      message << reward;
    } else {
      message << r.status;
    }
    if (!baselines.empty()) message << " - " << config.fitness.baseline << " " << baseline;
    out.seconds += r.seconds;
  }
  out.reward = aggregate_of(normalised, config.fitness.aggregate);
  message << ": " << config.fitness.aggregate << " " << out.reward;
  if (earned && out.status != tasks::Status::kHurdle) out.status = tasks::Status::kOk;
  out.message = message.str();
  return out;
}

tasks::EvalRecord aggregate_fitness(const std::vector<tasks::EvalRecord>& seeds, const FitnessSettings& fitness) {
  NOS_CHECK(!seeds.empty(), "aggregate_fitness of no seeds");
  if (seeds.size() == 1) return seeds.front();
  tasks::EvalRecord out = seeds.front();
  std::vector<double> rewards;
  bool earned = false, hurdled = false;
  std::ostringstream message;
  message << std::setprecision(4) << "seeds";
  auto mean_of_finite = [&](double tasks::EvalRecord::*field) {
    double sum = 0;
    int n = 0;
    for (const tasks::EvalRecord& r : seeds) {
      if (std::isfinite(r.*field)) {
        sum += r.*field;
        ++n;
      }
    }
    return n > 0 ? sum / n : std::nan("");
  };
  out.seconds = 0;
  for (const tasks::EvalRecord& r : seeds) {
    const bool counts = (r.status == tasks::Status::kOk || r.status == tasks::Status::kHurdle) && std::isfinite(r.reward);
    rewards.push_back(counts ? r.reward : 0.0);
    earned = earned || counts;
    hurdled = hurdled || r.status == tasks::Status::kHurdle;
    message << " ";
    if (counts) {
      message << r.reward;
    } else {
      message << r.status;
    }
    out.seconds += r.seconds;
  }
  const double reward = aggregate_of(rewards, fitness.aggregate);
  out.reward = earned ? reward : 0.0;
  out.status = !earned ? seeds.front().status : hurdled ? tasks::Status::kHurdle : tasks::Status::kOk;
  message << ": " << fitness.aggregate << " " << out.reward;
  if (!earned && !seeds.front().message.empty()) message << " (" << seeds.front().message << ")";
  out.message = message.str();
  out.val_acc = mean_of_finite(&tasks::EvalRecord::val_acc);
  out.test_acc = mean_of_finite(&tasks::EvalRecord::test_acc);
  out.hurdle_acc = mean_of_finite(&tasks::EvalRecord::hurdle_acc);
  return out;
}

bool FitnessTask::has(const std::string& key) const {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

size_t fitness_task_count(const SearchConfig& config) { return 1 + config.fitness.tasks.size(); }

TaskSettings fitness_task(const SearchConfig& config, size_t index) {
  if (index == 0) return config.task;
  const FitnessTask& f = config.fitness.tasks.at(index - 1);
  const TaskSettings& from = f.settings;
  TaskSettings t = config.task;
  for (const std::string& k : f.keys) {
    const tasks::SettingField& field = tasks::setting_field(setting_key(k));
    field.set(t, field.text(from));
  }
  if (!f.has("data_dir") && tasks::parse_task_name(from.task).dataset != tasks::parse_task_name(config.task.task).dataset) {
    t.data_dir.clear();  // another data set: its default folder
  }
  return t;
}

tasks::EvalRequest make_request(const TaskSettings& t) {
  tasks::EvalRequest r;
  static_cast<tasks::TrainingSettings&>(r) = t;
  // Test accuracy only after the last epoch: a search reads validation accuracy, and the test pass costs time.
  r.test_every_epoch = false;
  return r;
}

}  // namespace nos::search
