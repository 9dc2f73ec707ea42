// The search config's checks (validate), fitness over seeds and tasks, and the request a child is evaluated with.
#include "search/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>
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

// A stage's seeds: the tuning seed not among the final ones, neither among the search's (unless split legacy).
template <typename Fail>
void check_stage_seeds(const SearchConfig& c, const FunnelStage& s, const std::string& at, Fail fail) {
  if (s.split == "legacy") return;
  const uint64_t last = s.first_seed + static_cast<uint64_t>(s.seeds) - 1;
  const bool tuned = s.protocol == "tune" && s.lr_grid.size() > 1;  // else no seed chooses an lr
  if (tuned && s.tune_seed >= s.first_seed && s.tune_seed <= last) {
    fail(at + ".tune_seed", std::to_string(s.tune_seed) + " is one of the stage's seeds (" +
                                std::to_string(s.first_seed) + " … " + std::to_string(last) +
                                "): the lr's seed would be reported as a fresh one (allowed only with split: legacy)");
  }
  for (uint64_t seed : selection_seeds(c)) {
    if ((tuned && seed == s.tune_seed) || (seed >= s.first_seed && seed <= last)) {
      fail(at + (tuned && seed == s.tune_seed ? ".tune_seed" : ".first_seed"),
           "seed " + std::to_string(seed) + " trained the search's children: a funnel confirms on other seeds "
           "(allowed only with split: legacy)");
    }
  }
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
  if (analytic && c.task.dtype == "bfloat16") fail("task.dtype", tasks::kBfloat16Objective);
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
      fail(at + ".name", "'" + c.fitness.tasks[i].name() + "' is " +
                             (analytic ? "an image task" : "an analytic objective") + " but task.name '" +
                             c.task.task + "' is not: a child's tasks share their element type");
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
    check_stage_seeds(c, s, at, fail);
  }
  for (size_t i = 0; i < c.evolution.warm_start.size(); ++i) {
    try {
      rule_to_units(c.evolution.warm_start[i], c.space.units);
    } catch (const UserError& e) {
      fail("evolution.warm_start[" + std::to_string(i) + "]", e.what());
    }
  }
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
    const auto first = records.begin() + static_cast<std::ptrdiff_t>(t * seeds);
    return aggregate_fitness(std::vector<tasks::EvalRecord>(first, first + static_cast<std::ptrdiff_t>(seeds)),
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
    const bool counts =
        (r.status == tasks::Status::kOk || r.status == tasks::Status::kHurdle) && std::isfinite(r.reward);
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
    const bool counts =
        (r.status == tasks::Status::kOk || r.status == tasks::Status::kHurdle) && std::isfinite(r.reward);
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
    const tasks::SettingField& field = tasks::setting_field(task_setting_key(k));
    field.set(t, field.text(from));
  }
  if (!f.has("data_dir") &&
      tasks::parse_task_name(from.task).dataset != tasks::parse_task_name(config.task.task).dataset) {
    t.data_dir.clear();  // another data set: its default folder
  }
  return t;
}

std::vector<uint64_t> selection_seeds(const SearchConfig& config) {
  std::set<uint64_t> seeds;
  for (size_t t = 0; t < fitness_task_count(config); ++t) {
    const uint64_t first = fitness_task(config, t).seed;
    for (int k = 0; k < config.fitness.seeds; ++k) seeds.insert(first + static_cast<uint64_t>(k));
  }
  return {seeds.begin(), seeds.end()};
}

tasks::EvalRequest make_request(const TaskSettings& t) {
  tasks::EvalRequest r;
  static_cast<tasks::TrainingSettings&>(r) = t;
  // Test accuracy only after the last epoch: a search reads validation accuracy, and the test pass costs time.
  r.test_every_epoch = false;
  return r;
}

}  // namespace nos::search
