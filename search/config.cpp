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
#include "common/error.h"
#include "search/proposer.h"
#include "search/token_space.h"
#include "common/yaml_reader.h"
#include "tasks/objectives.h"

namespace nos::search {

namespace {

const std::map<std::string, std::vector<std::string>>& sections() {
  static const std::map<std::string, std::vector<std::string>> table = {
      {"", {"proposer", "budget", "max_trained", "batch_size", "workers", "seed", "fec_cache", "task", "prefilter",
            "hurdle", "fitness", "space", "controller", "evolution"}},
      {"task", {"name", "epochs", "steps", "batch_size", "lr", "lr_grid", "lr_search", "train_size",
                "validation_size", "test_accuracy", "device", "dtype", "seed", "data_dir", "cache_dir", "time_limit",
                "kill_grace", "threads"}},
      {"prefilter", {"enabled", "probe", "objective", "steps", "lr_grid"}},
      {"hurdle", {"enabled", "percentile", "min_children"}},
      {"space", {"units", "operands", "unary", "binary"}},
      {"controller", {"hidden", "lr", "baseline_decay", "entropy_weight", "temperature", "resample_repeats",
                      "algorithm", "ppo_epochs",
                      "ppo_clip"}},
      {"fitness", {"seeds", "aggregate"}},
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

}  // namespace

const std::vector<std::string>& config_keys(const std::string& section) {
  auto found = sections().find(section);
  NOS_CHECK(found != sections().end(), "no config section '" << section << "'");
  return found->second;
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
      TaskSettings& t = c.task;
      r.each_key(v, "task", [&](const std::string& k, const YAML::Node& x, const std::string& p) {
        if (k == "name") {
          t.name = r.scalar(x, p);
          try {
            tasks::parse_task_name(t.name);
          } catch (const UserError& e) {
            r.fail(x, p, e.what());
          }
        } else if (k == "epochs") {
          t.epochs = r.integer<int64_t>(x, p, 1, kBig);
        } else if (k == "steps") {
          t.steps = r.integer<int64_t>(x, p, 0, kBig);
        } else if (k == "batch_size") {
          t.batch_size = r.integer<int64_t>(x, p, 1, kBig);
        } else if (k == "lr") {
          t.lr = r.number(x, p, 0);
        } else if (k == "lr_grid") {
          t.lr_grid = r.positive_numbers(x, p);
        } else if (k == "lr_search") {
          t.lr_search = r.choice(x, p, tasks::lr_search_names());
        } else if (k == "train_size") {
          t.train_size = r.integer<int64_t>(x, p, -1, kBig);
          if (t.train_size == 0) r.fail(x, p, "expected -1 (all) or a count >= 1, got 0");
        } else if (k == "validation_size") {
          t.validation_size = r.integer<int64_t>(x, p, -1, kBig);
        } else if (k == "test_accuracy") {
          t.test_accuracy = r.boolean(x, p);
        } else if (k == "device") {
          t.device = r.scalar(x, p);
          const bool cuda = t.device == "cuda" || t.device.rfind("cuda:", 0) == 0;
          if (t.device != "cpu" && !cuda) r.fail(x, p, "expected cpu, cuda or cuda:N, got '" + t.device + "'");
        } else if (k == "dtype") {
          t.dtype = r.choice(x, p, {"float32", "float64"});
        } else if (k == "seed") {
          t.seed = r.integer<uint64_t>(x, p, 0, UINT64_MAX);
        } else if (k == "data_dir") {
          t.data_dir = x.IsNull() ? std::string() : r.scalar(x, p);
        } else if (k == "cache_dir") {
          t.cache_dir = x.IsNull() ? std::string() : r.scalar(x, p);
        } else if (k == "time_limit") {
          t.time_limit = r.number(x, p, 0);
        } else if (k == "kill_grace") {
          t.kill_grace = r.number(x, p, 0);
        } else if (k == "threads") {
          t.threads = r.integer<int>(x, p, 1, 1024);
        }
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
        }
      });
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
  tasks::parse_task_name(c.task.name);
  for (size_t i = 0; i < c.evolution.warm_start.size(); ++i) {
    try {
      rule_to_units(c.evolution.warm_start[i], c.space.units);
    } catch (const UserError& e) {
      fail("evolution.warm_start[" + std::to_string(i) + "]", e.what());
    }
  }
}

std::string to_yaml(const SearchConfig& c) {
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
    << "task:\n"
    << "  name: " << yaml_quoted(t.name) << "\n"
    << "  epochs: " << t.epochs << "\n"
    << "  steps: " << t.steps << "\n"
    << "  batch_size: " << t.batch_size << "\n"
    << "  lr: " << nos::format_number(t.lr) << "\n"
    << "  lr_grid: " << yaml_list(t.lr_grid) << "\n"
    << "  lr_search: " << t.lr_search << "\n"
    << "  train_size: " << t.train_size << "\n"
    << "  validation_size: " << t.validation_size << "\n"
    << "  test_accuracy: " << (t.test_accuracy ? "true" : "false") << "\n"
    << "  device: " << yaml_quoted(t.device) << "\n";
  if (!t.dtype.empty()) y << "  dtype: " << t.dtype << "\n";
  y << "  seed: " << t.seed << "\n"
    << "  data_dir: " << yaml_quoted(t.data_dir) << "\n"
    << "  cache_dir: " << yaml_quoted(t.cache_dir) << "\n"
    << "  time_limit: " << nos::format_number(t.time_limit) << "\n"
    << "  kill_grace: " << nos::format_number(t.kill_grace) << "\n"
    << "  threads: " << t.threads << "\n"
    << "prefilter:\n"
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
    const bool counts = (r.status == "ok" || r.status == "hurdle") && std::isfinite(r.reward);
    rewards.push_back(counts ? r.reward : 0.0);
    earned = earned || counts;
    hurdled = hurdled || r.status == "hurdle";
    message << " ";
    if (counts) {
      message << r.reward;
    } else {
      message << r.status;
    }
    out.seconds += r.seconds;
  }
  double reward = 0;
  if (fitness.aggregate == "median") {
    std::vector<double> sorted = rewards;
    std::sort(sorted.begin(), sorted.end());
    const size_t m = sorted.size() / 2;
    reward = sorted.size() % 2 == 1 ? sorted[m] : 0.5 * (sorted[m - 1] + sorted[m]);
  } else {
    for (double x : rewards) reward += x;
    reward /= static_cast<double>(rewards.size());
  }
  out.reward = earned ? reward : 0.0;
  out.status = !earned ? seeds.front().status : hurdled ? "hurdle" : "ok";
  message << ": " << fitness.aggregate << " " << out.reward;
  if (!earned && !seeds.front().message.empty()) message << " (" << seeds.front().message << ")";
  out.message = message.str();
  out.val_acc = mean_of_finite(&tasks::EvalRecord::val_acc);
  out.test_acc = mean_of_finite(&tasks::EvalRecord::test_acc);
  out.hurdle_acc = mean_of_finite(&tasks::EvalRecord::hurdle_acc);
  return out;
}

tasks::EvalRequest make_request(const TaskSettings& t) {
  tasks::EvalRequest r;
  r.task = t.name;
  r.epochs = t.epochs;
  r.steps = t.steps;
  r.batch_size = t.batch_size;
  r.lr = t.lr;
  r.lr_grid = t.lr_grid;
  r.lr_search = t.lr_search;
  r.seed = t.seed;
  r.device = t.device;
  r.dtype = t.dtype;
  r.validation_size = t.validation_size;
  r.train_size = t.train_size;
  // Test accuracy only after the last epoch: a search reads validation accuracy, and the test pass costs time.
  r.test_every_epoch = false;
  r.measure_test = t.test_accuracy;
  r.time_limit_seconds = t.time_limit;
  return r;
}

}  // namespace nos::search
