// The search config written back as YAML (to_yaml): every key, but those a recorded config lacked.
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

// One key of a task section as YAML text ("" for a key written only when set, at its default).
std::string task_value_yaml(const TaskSettings& t, const std::string& k) {
  return tasks::setting_yaml(t, task_setting_key(k));
}

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

// The top-level keys, the task section and the fitness section.
void write_top_task_fitness(std::ostream& y, const SearchConfig& c) {
  y << "proposer: " << c.proposer << "\n"
    << "budget: " << c.budget << "\n"
    << "max_trained: " << c.max_trained << "\n"
    << "batch_size: " << c.batch_size << "\n"
    << "workers: " << c.workers << "\n"
    << "seed: " << c.seed << "\n"
    << "fec_cache: " << yaml_quoted(c.fec_cache) << "\n"
    << "task:\n";
  for (const std::string& k : config_keys("task")) {
    const std::string value = task_value_yaml(c.task, k);
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
}

// The space, controller and evolution sections.
void write_proposer_sections(std::ostream& y, const SearchConfig& c) {
  const controller::ControllerOptions& o = c.controller;
  y << "space:\n"
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
}

// The funnel's stages.
void write_funnel(std::ostream& y, const SearchConfig& c) {
  y << "funnel:" << (c.funnel.empty() ? " []" : "") << "\n";
  for (const FunnelStage& s : c.funnel) {
    for (const std::string& key : config_keys("funnel")) {
      y << (key == "name" ? "  - " : "    ") << key << ": ";
      if (key == "name") {
        y << yaml_quoted(s.name) << "\n";
      } else if (key == "top_k") {
        y << s.top_k << "\n";
      } else if (key == "seeds") {
        y << s.seeds << "\n";
      } else if (key == "first_seed") {
        y << s.first_seed << "\n";
      } else if (key == "tune_seed") {
        y << s.tune_seed << "\n";
      } else if (key == "protocol") {
        y << s.protocol << "\n";
      } else if (key == "tune_epochs") {
        y << s.tune_epochs << "\n";
      } else if (key == "baseline") {
        y << yaml_quoted(s.baseline) << "\n";
      } else if (key == "margin") {
        y << nos::format_number(s.margin) << "\n";
      } else {
        y << tasks::setting_yaml(s, key) << "\n";  // a training setting, through the field table
      }
    }
  }
}

}  // namespace

std::string to_yaml(const SearchConfig& c) {
  std::ostringstream y;
  write_top_task_fitness(y, c);
  write_proposer_sections(y, c);
  write_funnel(y, c);
  return without_unwritten(y.str(), c.unwritten);
}

}  // namespace nos::search
