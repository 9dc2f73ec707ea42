// The search config read from YAML: typed reading with key paths and lines in every message (parse_config,
// load_config), and a run folder's recorded config (parse_recorded_config).
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

// The largest count a key takes (epochs, budget, …): 2^40.
constexpr int64_t kMaxCount = int64_t{1} << 40;

// The task section's keys: the training settings a search offers (tasks/settings.h), `task` as `name`.
std::vector<std::string> task_section_keys() {
  std::vector<std::string> keys;
  for (const std::string& key : tasks::setting_keys_in(tasks::kSearch)) keys.push_back(key == "task" ? "name" : key);
  return keys;
}

const std::map<std::string, std::vector<std::string>>& sections() {
  static const std::map<std::string, std::vector<std::string>> table = {
      {"", {"proposer", "budget", "max_trained", "batch_size", "workers", "seed", "fec_cache", "task", "prefilter",
            "hurdle", "fitness", "space", "controller", "evolution", "funnel"}},
      {"task", task_section_keys()},
      {"prefilter", {"enabled", "probe", "objective", "steps", "lr_grid"}},
      {"hurdle", {"enabled", "percentile", "min_children"}},
      {"space", {"units", "operands", "unary", "binary"}},
      {"controller", {"hidden", "lr", "baseline_decay", "entropy_weight", "temperature", "resample_repeats",
                      "escape", "algorithm", "ppo_epochs", "ppo_clip"}},
      {"fitness", {"seeds", "aggregate", "tasks", "baseline"}},
      {"fitness.tasks", {"name", "epochs", "steps", "batch_size", "lr", "lr_grid", "train_size", "validation_size",
                         "data_dir"}},
      {"funnel", {"name", "top_k", "task", "epochs", "batch_size", "train_size", "validation_size", "split", "seeds",
                  "first_seed", "tune_seed", "protocol", "lr_grid", "tune_epochs", "lr", "baseline", "margin",
                  "data_dir"}},
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

// One key of a task section (task:, an entry of fitness.tasks) read into t through the settings' field table.
void read_task_key(const YamlReader& r, const std::string& k, const YAML::Node& x, const std::string& p,
                   TaskSettings& t) {
  tasks::read_setting(r, task_setting_key(k), x, p, t);
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
      } else if (k == "seeds") {
        s.seeds = r.integer<int>(x, p, 1, 1000);
      } else if (k == "first_seed") {
        s.first_seed = r.integer<uint64_t>(x, p, 0, UINT64_MAX - 1000);
      } else if (k == "tune_seed") {
        s.tune_seed = r.integer<uint64_t>(x, p, 0, UINT64_MAX);
      } else if (k == "protocol") {
        s.protocol = r.choice(x, p, {"tune", "fixed"});
      } else if (k == "tune_epochs") {
        s.tune_epochs = r.integer<int64_t>(x, p, 1, kMaxCount);
      } else if (k == "baseline") {
        s.baseline = r.scalar(x, p);
      } else if (k == "margin") {
        s.margin = r.number(x, p, 0);
      } else {
        tasks::read_setting(r, k, x, p, s);  // a training setting: epochs, lr_grid, data_dir, …
      }
    }, at);
    stages.push_back(s);
  }
  return stages;
}

// The `prefilter:` section.
void read_prefilter(const YamlReader& r, const YAML::Node& v, PrefilterSettings& f) {
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
}

// The `hurdle:` section.
void read_hurdle(const YamlReader& r, const YAML::Node& v, HurdleSettings& h) {
  r.each_key(v, "hurdle", [&](const std::string& k, const YAML::Node& x, const std::string& p) {
    if (k == "enabled") {
      h.enabled = r.boolean(x, p);
    } else if (k == "percentile") {
      h.percentile = r.number(x, p, 0);
      if (h.percentile > 100) r.fail(x, p, "must be in [0, 100]");
    } else if (k == "min_children") {
      h.min_children = r.integer<int64_t>(x, p, 1, kMaxCount);
    }
  });
}

// The `space:` section.
void read_space(const YamlReader& r, const YAML::Node& v, SpaceSettings& s) {
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
}

// The `controller:` section.
void read_controller(const YamlReader& r, const YAML::Node& v, controller::ControllerOptions& o) {
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
}

// The `fitness:` section.
void read_fitness(const YamlReader& r, const YAML::Node& v, FitnessSettings& f) {
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
}

// The `evolution:` section.
void read_evolution(const YamlReader& r, const YAML::Node& v, EvolutionSettings& e) {
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

std::string task_setting_key(const std::string& key) { return key == "name" ? "task" : key; }

namespace {

// The config in the parsed document `root` (parse_config's body; parse_recorded_config reads the document again for
// the keys it lacks).
SearchConfig config_from_yaml(const YAML::Node& root, const std::string& source) {
  SearchConfig c;
  if (root.IsNull()) {
    validate(c, source);
    return c;
  }
  const YamlReader r(source, sections());
  r.each_key(root, "", [&](const std::string& key, const YAML::Node& v, const std::string& path) {
    if (key == "proposer") {
      c.proposer = r.choice(v, path, proposer_names());
    } else if (key == "budget") {
      c.budget = r.integer<int64_t>(v, path, 1, kMaxCount);
    } else if (key == "max_trained") {
      c.max_trained = r.integer<int64_t>(v, path, 0, kMaxCount);
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
      read_prefilter(r, v, c.prefilter);
    } else if (key == "hurdle") {
      read_hurdle(r, v, c.hurdle);
    } else if (key == "space") {
      read_space(r, v, c.space);
    } else if (key == "controller") {
      read_controller(r, v, c.controller);
    } else if (key == "fitness") {
      read_fitness(r, v, c.fitness);
    } else if (key == "funnel") {
      c.funnel = parse_funnel(r, v, path);
    } else if (key == "evolution") {
      read_evolution(r, v, c.evolution);
    }
  });
  validate(c, source);
  return c;
}

}  // namespace

SearchConfig parse_config(const std::string& yaml_text, const std::string& source) {
  return config_from_yaml(load_yaml(yaml_text, source), source);
}

SearchConfig load_config(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw UserError(path + ": cannot open the config file (does it exist and is it readable?)");
  std::stringstream text;
  text << file.rdbuf();
  if (file.bad()) throw UserError(path + ": cannot read the config file");
  return parse_config(text.str(), path);
}

SearchConfig parse_recorded_config(const std::string& yaml_text, const std::string& source) {
  const YAML::Node root = load_yaml(yaml_text, source);
  SearchConfig c = config_from_yaml(root, source);
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
  if (absent("task.split")) c.task.split = "legacy";  // a run made before the purpose split
  if (absent("task.test_accuracy")) c.task.test_accuracy = true;
  if (absent("hurdle")) c.hurdle.enabled = false;
  if (absent("evolution.constant_mutation")) c.evolution.constant_mutation = 0;
  if (absent("evolution.insert_delete")) c.evolution.insert_delete = 0;
  if (absent("controller.resample_repeats")) c.controller.resample_repeats = 0;
  if (absent("controller.escape")) c.controller.escape = "none";
  return c;
}

}  // namespace nos::search
