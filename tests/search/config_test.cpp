// The search config: defaults, the shipped configs, YAML round trip, and errors that name the key path.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "search/equivalence.h"
#include "search/search.h"
#include "tests/search/helpers.h"

namespace nos::search {
namespace {

using fixtures::read;

// The message of the UserError parse_config throws for `yaml`, or "" when it throws none.
std::string error_of(const std::string& yaml) {
  try {
    parse_config(yaml, "test.yaml");
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, EmptyTextGivesTheDefaults) {
  const SearchConfig c = parse_config("", "empty");
  EXPECT_EQ(c.proposer, "controller");
  EXPECT_EQ(c.budget, 160);
  EXPECT_EQ(c.space.units, 2);
  EXPECT_EQ(c.space.vocabulary.operands, dsl::default_vocabulary().operands);
  EXPECT_TRUE(c.prefilter.enabled);
}

TEST(Config, TheEmbeddedDemoIsConfigsDemoYaml) {
  EXPECT_EQ(demo_config_yaml(), read(std::string(NOS_SOURCE_DIR) + "/configs/demo.yaml"));
}

TEST(Config, EveryShippedConfigParses) {
  for (const char* name : {"demo", "nos-paper", "random", "evolution", "controller"}) {
    const std::string path = std::string(NOS_SOURCE_DIR) + "/configs/" + name + ".yaml";
    EXPECT_NO_THROW(load_config(path)) << path;
  }
  EXPECT_EQ(load_config(std::string(NOS_SOURCE_DIR) + "/configs/random.yaml").proposer, "random");
  EXPECT_EQ(load_config(std::string(NOS_SOURCE_DIR) + "/configs/evolution.yaml").proposer, "evolution");
}

TEST(Config, ComparisonConfigsDifferOnlyInTheirProposer) {
  SearchConfig r = load_config(std::string(NOS_SOURCE_DIR) + "/configs/random.yaml");
  SearchConfig e = load_config(std::string(NOS_SOURCE_DIR) + "/configs/evolution.yaml");
  SearchConfig c = load_config(std::string(NOS_SOURCE_DIR) + "/configs/controller.yaml");
  r.proposer = e.proposer = c.proposer = "controller";
  EXPECT_EQ(to_yaml(r), to_yaml(c));
  EXPECT_EQ(to_yaml(e), to_yaml(c));
}

TEST(Config, WritesAndReadsBackEveryKey) {
  SearchConfig c;
  c.proposer = "evolution";
  c.budget = 33;
  c.seed = 18446744073709551615ull;
  c.task.task = "quadratic";
  c.task.lr = 0.003;
  c.task.lr_grid = {1e-5, 0.1};
  c.task.dtype = "float32";
  c.task.data_dir = "/data/with \"quotes\"";
  c.task.cache_dir = "/caches/nos";
  c.space.units = 3;
  c.space.vocabulary.operands = {"g", "sign(m)", "0.001*w", "2"};
  c.controller.algorithm = "ppo";
  c.controller.lr = 0.0123;
  c.evolution.warm_start = {"adam", "exp(sign(g)*sign(m))*g"};
  const std::string yaml = to_yaml(c);
  EXPECT_EQ(to_yaml(parse_config(yaml, "roundtrip")), yaml);
  const SearchConfig back = parse_config(yaml, "roundtrip");
  EXPECT_EQ(back.task.cache_dir, "/caches/nos");
  EXPECT_EQ(back.task.dtype, "float32");
  // Every key of the schema is written, so config.yaml shows every setting a run used.
  for (const std::string section :
       {"", "task", "prefilter", "hurdle", "fitness", "space", "controller", "evolution"}) {
    for (const std::string& key : config_keys(section)) {
      const std::vector<std::string>& recipe = tasks::recipe_keys();
      // The training recipe's keys are written only when set (RecipeKeysAreWrittenOnlyWhenSet).
      if (section == "task" && std::find(recipe.begin(), recipe.end(), key) != recipe.end()) continue;
      if (section == "task" && key == "population") continue;  // written when not 1 (PopulationIsARuntimeKey)
      const std::string line = (section.empty() ? "" : "  ") + key + ":";
      EXPECT_NE(("\n" + yaml).find("\n" + line), std::string::npos) << (section.empty() ? key : section + "." + key);
    }
  }
}

TEST(Config, UnknownKeysNameTheirPathAndLine) {
  EXPECT_EQ(error_of("budget: 10\ntask:\n  epoch: 3\n"),
            "test.yaml:3: key 'task.epoch': unknown key (known keys of 'task': name, epochs, steps, batch_size, lr, "
            "lr_grid, lr_search, schedule, weight_decay, weight_decay_mode, weight_decay_mask, clip_norm, clip_value, "
            "train_size, validation_size, split, test_accuracy, device, dtype, seed, data_dir, cache_dir, "
            "time_limit, kill_grace, threads, population)");
  EXPECT_NE(error_of("budgett: 10\n").find("key 'budgett': unknown key"), std::string::npos);
}

TEST(Config, BadValuesNameTheirPath) {
  EXPECT_EQ(error_of("task:\n  epochs: -3\n"),
            "test.yaml:2: key 'task.epochs': expected a whole number in [1, 1099511627776], got '-3'");
  EXPECT_EQ(error_of("proposer: genetic\n"),
            "test.yaml:1: key 'proposer': expected one of controller, random, evolution, got 'genetic'");
  EXPECT_EQ(error_of("controller:\n  lr: fast\n"), "test.yaml:2: key 'controller.lr': expected a finite number, "
                                                   "got 'fast'");
  EXPECT_EQ(error_of("space:\n  operands: [g, gg]\n"),
            "test.yaml:2: key 'space.operands[1]': 'gg' is not an operand token (did you mean 'g'?)");
  EXPECT_EQ(error_of("task:\n  lr_grid: []\n"),
            "test.yaml:2: key 'task.lr_grid': expected a non-empty list of numbers > 0, got '[]'");
  EXPECT_NE(error_of("task:\n  name: mnist-convnet\n").find("key 'task.name': unknown task 'mnist-convnet'"),
            std::string::npos);
  EXPECT_EQ(error_of("evolution:\n  population: 4\n  tournament: 5\n"),
            "test.yaml: key 'evolution.tournament': must not exceed evolution.population (4), got 5");
  EXPECT_NE(error_of("evolution:\n  warm_start: [adam, nosuchrule]\n").find("key 'evolution.warm_start[1]'"),
            std::string::npos);
  EXPECT_NE(error_of("budget: [1, 2]\n").find("key 'budget': expected a single value"), std::string::npos);
  EXPECT_NE(error_of("task: [1]\n").find("key 'task': expected a mapping"), std::string::npos);
  EXPECT_NE(error_of("a: [\n").find("test.yaml:2:1: invalid YAML"), std::string::npos);
  EXPECT_EQ(error_of("fec_cache: ''\n").rfind("test.yaml:1: key 'fec_cache': expected run, none or the path", 0), 0u)
      << error_of("fec_cache: ''\n");
  EXPECT_EQ(parse_config("fec_cache: /caches/fec.db\n", "t").fec_cache, "/caches/fec.db");
  EXPECT_EQ(error_of("prefilter:\n  probe: maybe\n").rfind("test.yaml:2: key 'prefilter.probe'", 0), 0u);
  EXPECT_EQ(parse_config("prefilter:\n  objective: none\n", "t").prefilter.objective, "none");
  // Issue 16's and 17's keys.
  EXPECT_EQ(error_of("fitness:\n  aggregate: max\n").rfind("test.yaml:2: key 'fitness.aggregate': expected one of", 0),
            0u);
  EXPECT_EQ(error_of("fitness:\n  seeds: 0\n").rfind("test.yaml:2: key 'fitness.seeds'", 0), 0u);
  // fitness.tasks and fitness.baseline: entries named in messages, a round trip writing only the keys given.
  const SearchConfig tasks = parse_config(
      "task: {name: rosenbrock, steps: 100}\nfitness:\n  baseline: adam\n  tasks:\n    - {name: beale, steps: 50}\n",
      "t");
  ASSERT_EQ(tasks.fitness.tasks.size(), 1u);
  EXPECT_EQ(fitness_task(tasks, 1).steps, 50);
  EXPECT_EQ(fitness_task(tasks, 1).task, "beale");
  EXPECT_EQ(tasks.fitness.baseline, "adam");
  EXPECT_EQ(to_yaml(parse_config(to_yaml(tasks), "again")), to_yaml(tasks));
  EXPECT_EQ(error_of("fitness:\n  tasks:\n    - {steps: 5}\n").rfind("test.yaml:3: key 'fitness.tasks[0].name'", 0),
            0u) << error_of("fitness:\n  tasks:\n    - {steps: 5}\n");
  EXPECT_NE(error_of("fitness:\n  tasks:\n    - {name: beale, colour: 1}\n").find("fitness.tasks[0].colour"),
            std::string::npos);
  EXPECT_NE(error_of("fitness:\n  tasks:\n    - {name: rosenbrock}\n").find("a child's tasks share"), std::string::npos);
  EXPECT_NE(error_of("fitness:\n  baseline: 'sign(('\n").find("key 'fitness.baseline'"), std::string::npos);
  EXPECT_EQ(error_of("max_trained: -1\n").rfind("test.yaml:1: key 'max_trained'", 0), 0u);
  const std::string repeats = error_of("controller:\n  resample_repeats: -2\n");
  EXPECT_EQ(repeats.rfind("test.yaml:2: key 'controller.resample_repeats'", 0), 0u) << repeats;
  const std::string escape = error_of("controller:\n  escape: entropy\n");
  EXPECT_EQ(escape.rfind("test.yaml:2: key 'controller.escape'", 0), 0u) << escape;
  EXPECT_NE(escape.find("temperature"), std::string::npos) << escape;  // names what it takes
  EXPECT_EQ(error_of("evolution:\n  unit_mutation: 0.5\n  constant_mutation: 0.4\n  insert_delete: 0.2\n"),
            "test.yaml: key 'evolution.unit_mutation': unit_mutation + constant_mutation + insert_delete must not "
            "exceed 1");
  EXPECT_EQ(error_of("evolution:\n  restart_after: 10\n  restart_from: warm_start\n"),
            "test.yaml: key 'evolution.restart_from': is warm_start but evolution.warm_start is empty");
  EXPECT_EQ(error_of("evolution:\n  restart_from: worst\n").rfind("test.yaml:2: key 'evolution.restart_from'", 0), 0u);
}

// task.population: auto or a count; written only when not 1 (so the equivalence cache's key of a run is what it was
// before populations), and left out of that key: a population's children are their solo runs.
TEST(Config, PopulationIsARuntimeKey) {
  EXPECT_EQ(parse_config("", "t").task.population, 1);
  EXPECT_EQ(to_yaml(parse_config("", "t")).find("population: 1"), std::string::npos);
  const SearchConfig four = parse_config("task:\n  population: 4\n", "t");
  EXPECT_EQ(four.task.population, 4);
  EXPECT_NE(to_yaml(four).find("\n  population: 4\n"), std::string::npos);
  const SearchConfig automatic = parse_config("task:\n  population: auto\n", "t");
  EXPECT_EQ(automatic.task.population, 0);
  EXPECT_EQ(parse_config(to_yaml(automatic), "again").task.population, 0);
  EXPECT_EQ(fec_task_key(four.task), fec_task_key(parse_config("", "t").task));
  EXPECT_EQ(error_of("task:\n  population: many\n"),
            "test.yaml:2: key 'task.population': expected auto or a whole number in [1, 4096], got 'many'");
  EXPECT_EQ(error_of("task:\n  population: 0\n"),
            "test.yaml:2: key 'task.population': expected auto or a whole number in [1, 4096], got '0'");
}

// The recipe's keys in the task section: the schedule as flag text or a mapping; written only when set, so the
// equivalence cache's key of a run without them is what it was before they existed; carried into the requests.
TEST(Config, RecipeKeysAreWrittenOnlyWhenSet) {
  const SearchConfig plain = parse_config("task:\n  name: fmnist-mlp\n", "plain.yaml");
  EXPECT_EQ(to_yaml(plain).find("schedule"), std::string::npos);
  EXPECT_EQ(to_yaml(plain).find("weight_decay"), std::string::npos);
  const SearchConfig c = parse_config(
      "task:\n  name: fmnist-mlp\n  schedule: {name: cosine, warmup: 0.05, t_mult: 2, t0: 0.25}\n"
      "  weight_decay: 0.1\n  weight_decay_mode: decoupled\n  clip_norm: 1\n",
      "recipe.yaml");
  EXPECT_EQ(tasks::recipe_text(c.task.recipe),
            "schedule: cosine,warmup=0.05,t0=0.25,t_mult=2; weight_decay: 0.1; weight_decay_mode: decoupled; "
            "clip_norm: 1");
  const std::string yaml = to_yaml(c);
  EXPECT_EQ(to_yaml(parse_config(yaml, "roundtrip")), yaml);
  EXPECT_NE(fec_task_key(c.task), fec_task_key(plain.task));
  const SearchConfig flat = parse_config("task:\n  name: fmnist-mlp\n  schedule: cosine,warmup=0.05,t0=0.25,t_mult=2\n"
                                         "  weight_decay: 0.1\n  weight_decay_mode: decoupled\n  clip_norm: 1\n",
                                         "flat.yaml");
  EXPECT_EQ(fec_task_key(flat.task), fec_task_key(c.task));
  EXPECT_EQ(tasks::recipe_text(make_request(c.task).recipe), tasks::recipe_text(c.task.recipe));
  EXPECT_EQ(error_of("task:\n  name: fmnist-mlp\n  schedule: cosine,t_mult=0.5\n").substr(0, 35),
            "test.yaml:3: key 'task.schedule': v");
  EXPECT_NE(error_of("task:\n  name: fmnist-mlp\n  schedule: {warmup: 0.1}\n").find("needs a 'name'"),
            std::string::npos);
  EXPECT_NE(error_of("task:\n  name: fmnist-mlp\n  weight_decay: -1\n").find("key 'task.weight_decay'"),
            std::string::npos);
  EXPECT_NE(error_of("task:\n  name: fmnist-mlp\n  weight_decay_mode: decoupled\n").find("needs a weight_decay"),
            std::string::npos);
  EXPECT_NE(error_of("task:\n  name: rosenbrock\n  clip_norm: 1\n").find("analytic objective"), std::string::npos);
  EXPECT_NE(error_of("task:\n  name: rosenbrock\n  dtype: bfloat16\n")
                .find("key 'task.dtype': dtype bfloat16 is autocast of a network's forward passes"),
            std::string::npos);
  EXPECT_NE(error_of("task:\n  name: fmnist-mlp\n  dtype: float16\n").find("bfloat16"), std::string::npos);
}

TEST(Config, RequestsCarryTheTaskSettings) {
  TaskSettings t;
  t.task = "fmnist-mlp";
  t.epochs = 2;
  t.train_size = 1000;
  t.lr = 0.01;
  t.time_limit = 30;
  const tasks::EvalRequest r = make_request(t);
  EXPECT_EQ(r.task, "fmnist-mlp");
  EXPECT_EQ(r.epochs, 2);
  EXPECT_EQ(r.train_size, 1000);
  EXPECT_EQ(r.lr, 0.01);
  EXPECT_EQ(r.time_limit, 30);
  EXPECT_FALSE(r.test_every_epoch);
}

}  // namespace
}  // namespace nos::search
