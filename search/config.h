// The settings of a search job: plain structs with documented defaults, read from and written to YAML.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "controller/controller.h"
#include "dsl/tokens.h"
#include "tasks/evaluator.h"

namespace nos::search {

// How each child is trained and scored (the `task:` section): the training settings (tasks/settings.h; the YAML
// key of `task` is `name`), with a search's defaults — successive halving, no test pass (the reward is the
// validation accuracy, and the test pass over 10,000 images is a sixth of a proxy child's time; the test set is for
// the rules a search finds, not for choosing among them). Every child starts from the same initialisation (seed),
// so rewards are comparable. `population` (dispatch/population_pool.h) changes no result, timings aside.
struct TaskSettings : tasks::TrainingSettings {
  TaskSettings() {
    lr_search = "halving";
    test_accuracy = false;
    split = "selection";  // rewards on the selection images; funnels and comparisons confirm on others
  }
};

// The cheap check before training (the `prefilter:` section): the rule runs on an analytic objective and must
// lower its loss at one of the learning rates, or it is stored as `rejected` without training.
struct PrefilterSettings {
  bool enabled = true;
  // The probe's checks first (dsl::probe_verdict, milliseconds): updates that are not finite, constant, or do not
  // descend (mean cosine with the gradient below 0.15) are rejected with that reason.
  bool probe = true;
  // Beale starts near its minimum (2.8, 0.35), so rules that only shrink the weights (w) raise its loss, as does
  // any ascent direction (-g); a descent direction at a small enough step lowers it.
  std::string objective = "beale";  // or "none": the probe's checks only
  int64_t steps = 200;
  std::vector<double> lr_grid = {1e-4, 1e-3, 1e-2, 1e-1, 1};
};

// Early stopping of hopeless children (the `hurdle:` section). A child whose best validation accuracy at the hurdle
// point (tasks::TrainConfig::hurdle: after the first halving rung, after the full grid, or after the first epoch at a
// fixed lr) is below the `percentile`-th percentile of the hurdle accuracies of the children trained in earlier
// batches stops there with status `hurdle` and reward = that accuracy. Earlier batches only, so a resumed run and
// any number of workers decide alike. No hurdle until `min_children` earlier children have a hurdle accuracy.
struct HurdleSettings {
  bool enabled = true;
  double percentile = 50;  // in [0, 100]; linear interpolation between the order statistics (numpy's default)
  int64_t min_children = 8;
};

// The token space every proposer draws from (the `space:` section).
struct SpaceSettings {
  int units = 2;                  // units of 5 tokens per rule; the last unit is the rule (Bello et al. 2017)
  dsl::Vocabulary vocabulary = dsl::default_vocabulary();  // tokens per kind; unit references are added
};

// Regularized evolution (Real et al. 2019), the `evolution:` section.
struct EvolutionSettings {
  int population = 20;
  int tournament = 5;
  double unit_mutation = 0.2;           // chance that a mutation redraws a whole unit instead of one token
  double constant_mutation = 0.2;       // chance that it scales a number (constant, β, ε, c, p) by 2^N(0,1)
  double insert_delete = 0.1;           // chance that it inserts or deletes a unit (half each)
  int64_t restart_after = 0;            // children without a better reward before a restart; 0: never
  std::string restart_from = "best";    // a restart fills the population with the best so far, or the warm start
  std::vector<std::string> warm_start;  // named rules, DSL text or token text put in the first population
};

// A further task a child's fitness is measured on (an entry of fitness.tasks): the search's task: section with the
// keys given here replaced (name is required; the others keep the task: section's values when absent).
struct FitnessTask {
  TaskSettings settings;          // the values of the keys given (the rest unused)
  std::vector<std::string> keys;  // the keys given, in order
  const std::string& name() const { return settings.task; }
  bool has(const std::string& key) const;
};

// How a child's reward is made from its evaluations (the `fitness:` section): one evaluation per task (task:, then
// each of `tasks`) and seed (task seeds task.seed, task.seed + 1, ...), each through the (rule, task, budget, seed)
// → record interface; per task the mean or the median of the seeds' rewards (a seed that failed counts 0), minus the
// baseline rule's on that task when `baseline` is set (evaluated once per run on the same tasks and seeds); then
// the mean or the median over the tasks.
struct FitnessSettings {
  int seeds = 1;
  std::string aggregate = "mean";  // or "median"
  std::vector<FitnessTask> tasks;
  std::string baseline;            // a named rule or DSL text; empty: rewards are not normalised
};

// One stage of funnel selection (the `funnel:` list; experiments/funnel.h runs it after the search, as `nos compare`
// runs a comparison): its top_k rules — the search's best distinct rules with status ok for the first stage, the
// survivors of the stage before for the others — and the baseline, each tuned (or at a fixed lr) and run with
// `seeds` seeds. A rule passes the gate when its mean validation accuracy exceeds the baseline's by more than
// margin · sd, sd = √((sd_rule² + sd_baseline²)/2) over the seeds; the passers, best first, go on.
struct FunnelStage : tasks::TrainingSettings {
  FunnelStage() {
    task.clear();  // <dataset>-<model>; empty: the search's task.name
    lr_grid = {1e-4, 1e-3, 1e-2, 1e-1, 1};
  }
  // Its training settings (the keys task, epochs, batch_size, train_size, validation_size, lr_grid, lr, data_dir:
  // each seed's budget; lr for protocol fixed; data_dir empty: task.data_dir when the data set is the search's,
  // else its default) read and write through the field table (tasks/settings.h). Its own:
  std::string name;               // shown by nos top and naming its folder (RUN_DIR/funnel/NAME); empty: stage-N
  int top_k = 5;                  // rules that enter the stage
  int seeds = 3;                  // seeds first_seed … first_seed + seeds − 1 at the chosen lr
  // Apart from the search's child seeds (validate() checks) and from each other, as nos compare's (compare_config.h).
  uint64_t first_seed = 1001;
  uint64_t tune_seed = 1000;
  std::string protocol = "tune";  // tune: lr_grid with tune_seed for tune_epochs each (nos compare); fixed: lr
  int64_t tune_epochs = 1;
  std::string baseline = "adam";  // a named rule or DSL text run beside, alike; "none": no gate (the best go on)
  double margin = 0;              // in seed standard deviations (see above)
};

struct SearchConfig {
  std::string proposer = "controller";  // a proposers() row (search/proposer.h)
  int64_t budget = 160;                  // children in total (proposals, whatever became of them)
  int64_t max_trained = 0;               // stop once this many children were trained (not cached, invalid or
                                         // rejected), before the budget is spent; 0: no cap
  int batch_size = 8;                    // proposals per batch (one controller update per batch)
  int workers = 2;                       // evaluation processes
  uint64_t seed = 0;                     // the proposer's random generator
  // The functional-equivalence cache: "run" (a rule whose probe fingerprint matches one evaluated earlier in this
  // run reuses its reward, status cached; rebuilt from the store on resume), "none", or the path of a cache file
  // shared by runs with the same task settings (SharedEquivalenceCache), consulted after the run's own.
  std::string fec_cache = "run";
  TaskSettings task;
  PrefilterSettings prefilter;
  HurdleSettings hurdle;
  FitnessSettings fitness;
  SpaceSettings space;
  controller::ControllerOptions controller;  // units and seed come from space.units and seed
  EvolutionSettings evolution;
  std::vector<FunnelStage> funnel;  // empty: no funnel
  // Key paths ("controller.escape", "fitness") a recorded config lacked because the nos that wrote it did not know
  // them: to_yaml leaves them out, so a run folder's config reads back byte for byte (parse_recorded_config).
  std::vector<std::string> unwritten;
};

// The settings of fitness task `index`: 0 is config.task, i ≥ 1 config.fitness.tasks[i − 1] over config.task.
size_t fitness_task_count(const SearchConfig& config);
TaskSettings fitness_task(const SearchConfig& config, size_t index);
// The seeds a child is trained with (each fitness task's seed + 0 … fitness.seeds − 1), ascending: the selection's
// seeds, which a funnel stage or a comparison of the run's rules must not reuse.
std::vector<uint64_t> selection_seeds(const SearchConfig& config);

// The keys of each section, in documentation order (top-level keys under "").
const std::vector<std::string>& config_keys(const std::string& section);

// The training setting a task section's key names: the key itself, but `name` for the task.
std::string task_setting_key(const std::string& key);

// The task section's keys as training settings, in its order ("name=task": the YAML key name is the setting task).
std::vector<std::string> task_setting_keys();

// Reads YAML text onto a default SearchConfig. `source` names it in messages ("configs/demo.yaml"). Unknown keys
// and bad values throw nos::UserError naming the key path and line: "demo.yaml:7: key 'task.epochs': ...".
SearchConfig parse_config(const std::string& yaml_text, const std::string& source);

// Reads a config file (parse_config of its text).
SearchConfig load_config(const std::string& path);

// Checks the values that depend on each other (also run by parse_config); throws nos::UserError.
void validate(const SearchConfig& config, const std::string& source);

// A run folder's recorded config. to_yaml writes every key, so a key missing from it was unknown to the nos that
// started the run, which ran with that key's behaviour of the time: those keys are set so, not to today's defaults
// (the full lr grid, test accuracy, no hurdles before issue 15; evolution's token and unit mutations alone before
// issue 16; repeats before issue 17; no escape before issue 36), so a resumed run keeps its protocol, and they are
// listed in `unwritten`, so the config writes back as it was recorded.
SearchConfig parse_recorded_config(const std::string& yaml_text, const std::string& source);

// The resolved config as YAML, every key written but those in config.unwritten: parse_config(to_yaml(c)) == c.
std::string to_yaml(const SearchConfig& config);

// The p-th percentile (p in [0, 100]) of `values` with linear interpolation between order statistics (numpy's
// default); NaN for no values.
double percentile(std::vector<double> values, double p);

// The request one child of this config is evaluated with (rule left empty, no hurdle).
tasks::EvalRequest make_request(const TaskSettings& task);

// A child's record from its seeds' records (fitness.seeds of them, in seed order). One seed: that record. Several:
// the reward is the mean or median of the seeds' rewards, a seed that did not end ok or at its hurdle counting 0;
// the status is ok when some seed earned a reward and none stopped at its hurdle, hurdle when one did, and the
// first seed's status when none earned one; accuracies are the means of the finite ones, the lr the first seed's,
// seconds the sum; the message lists every seed's reward (or status).
tasks::EvalRecord aggregate_fitness(const std::vector<tasks::EvalRecord>& seeds, const FitnessSettings& fitness);

// A child's record from its records per fitness task and seed, task by task (task t's seeds at t·seeds …): each
// task's aggregate_fitness reward (0 when no seed earned one) minus baselines[t] (baselines empty: not normalised),
// then the mean or the median over the tasks. Status, accuracies, lr and hurdle accuracy are the first task's
// (status ok when some task earned a reward, hurdle when the first task stopped at its hurdle); seconds the sum; the
// message lists each task. One task without a baseline: aggregate_fitness itself.
tasks::EvalRecord combine_fitness(const std::vector<tasks::EvalRecord>& records, const SearchConfig& config,
                                  const std::vector<double>& baselines);

// The reward of a child that earns none (invalid, rejected, diverged on every task): 0, or with baselines what a
// child with accuracy 0 on every task scores (the mean or median of −baselines).
double fitness_floor(const FitnessSettings& fitness, const std::vector<double>& baselines);

}  // namespace nos::search
