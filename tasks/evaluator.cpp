// Task names, and the local evaluator: resolve the rule and task, load (or reuse) the data, train or minimise.
#include "common/text.h"
#include "tasks/evaluator.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>

#include "common/error.h"
#include "optimizers/optimizers.h"
#include "tasks/lr_choice.h"
#include "tasks/models.h"
#include "tasks/objective_run.h"
#include "tasks/objectives.h"
#include "tasks/population.h"

namespace nos::tasks {

namespace {


std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& n : names) text += (text.empty() ? "" : ", ") + n;
  return text;
}

torch::Device device_of(const std::string& text) {
  if (text == "cpu") return torch::kCPU;
  if (text.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw UserError("device '" + text + "' asked for, but CUDA is not available (use device cpu)");
    }
    try {
      return torch::Device(text);
    } catch (const c10::Error&) {
      // falls through to the message below
    }
  }
  throw UserError("unknown device '" + text + "' (expected cpu, cuda or cuda:N)");
}

torch::Dtype dtype_of(const std::string& text, bool analytic) {
  if (text.empty()) return analytic ? torch::kFloat64 : torch::kFloat32;
  if (text == "float32") return torch::kFloat32;
  if (text == "float64") return torch::kFloat64;
  if (text == "bfloat16") {
    if (analytic) throw UserError(kBfloat16Objective);
    return torch::kFloat32;  // and bfloat16 autocast (train_config)
  }
  throw UserError("unknown dtype '" + text + "' (expected float32, float64 or bfloat16)");
}

// Analytic tasks: the reward maps the final gap to the optimum into (0, 1], 1 at the optimum, so that rewards of all
// tasks share a range.
double objective_reward(const ObjectiveResult& r, const Objective& objective) {
  if (r.status != Status::kOk || !std::isfinite(r.final_loss)) return 0.0;
  return 1.0 / (1.0 + std::max(0.0, r.final_loss - objective.optimum_value));
}

void evaluate_objective(const optimizers::ResolvedRule& rule, const TaskSpec& task, const EvalRequest& request,
                        EvalRecord& record) {
  const auto start = std::chrono::steady_clock::now();
  const Objective objective = make_objective(task.name, request.seed);
  ObjectiveRunConfig config;
  config.steps = request.steps > 0 ? request.steps : 1000;
  config.dtype = dtype_of(request.dtype, true);
  config.seed = request.seed;
  config.device = device_of(request.device);
  const std::vector<double> lrs = request.lr > 0 ? std::vector<double>{request.lr} : request.lr_grid;
  if (lrs.empty()) throw UserError("the lr grid is empty");
  std::vector<LrTrial> trials;
  std::vector<ObjectiveResult> results;
  for (double lr : lrs) {
    if (!(lr > 0) || !std::isfinite(lr)) throw UserError("lr " + std::to_string(lr) + ": each lr must be > 0");
    config.lr = lr;
    ObjectiveResult r = run_objective(rule, objective, config);
    const double reward = objective_reward(r, objective);
    if (lrs.size() > 1) {
      GridTrial trial;
      trial.lr = lr;
      trial.status = r.status;
      trial.steps = r.steps_done;
      trial.train_loss = r.final_loss;
      trial.val_acc = kNaN;
      trial.seconds = r.seconds;
      record.grid.push_back(trial);
    }
    trials.push_back({lr, r.status, r.status == Status::kOk && std::isfinite(r.final_loss) ? reward : kNaN});
    results.push_back(r);
  }
  // The best reward's lr; when every lr failed, the first lr's run stands for them all (its reward is 0).
  const double chosen = choose_lr(trials);
  size_t best = 0;
  while (!std::isnan(chosen) && trials[best].lr != chosen) ++best;
  const ObjectiveResult& best_result = results[best];
  record.lr = lrs[best];
  record.status = best_result.status;
  if (record.status != Status::kOk) record.message = "the loss became non-finite or exploded";
  record.reward = objective_reward(best_result, objective);
  record.val_acc = kNaN;
  record.test_acc = kNaN;
  record.total_steps = config.steps;
  record.steps_done = best_result.steps_done;
  record.final_loss = best_result.final_loss;
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

std::vector<std::string> dataset_names() {
  std::vector<std::string> names;
  for (const DatasetInfo& d : datasets()) names.emplace_back(d.name);
  return names;
}

std::vector<std::string> task_names() {
  std::vector<std::string> names = objective_names();
  for (const std::string& dataset : dataset_names()) {
    for (const std::string& model : model_names()) names.push_back(dataset + "-" + model);
  }
  return names;
}

TaskSpec parse_task_name(std::string_view name) {
  TaskSpec spec;
  spec.name = std::string(name);
  for (const std::string& objective : objective_names()) {
    if (name == objective) {
      spec.analytic = true;
      return spec;
    }
  }
  for (const std::string& dataset : dataset_names()) {
    if (name.size() > dataset.size() + 1 && name.substr(0, dataset.size()) == dataset &&
        name[dataset.size()] == '-') {
      spec.dataset = dataset;
      spec.model = std::string(name.substr(dataset.size() + 1));
      try {
        check_model_name(spec.model);
      } catch (const UserError& e) {
        throw UserError("task '" + spec.name + "': " + e.what());
      }
      return spec;
    }
  }
  std::vector<std::string> model_list = model_names();
  for (const ModelInfo& m : models()) {
    if (m.member != nullptr) model_list.emplace_back(m.name);  // a family: its form too
  }
  throw UserError("unknown task '" + spec.name + "' (objectives: " + joined(objective_names()) +
                  "; or <dataset>-<model> with dataset " + joined(dataset_names()) + " and model " +
                  joined(model_list) + ")");
}

LocalEvaluator::LocalEvaluator(LocalEvaluatorOptions options) : options_(std::move(options)) {
  if (!options_.loader) options_.loader = load_dataset;
}

std::shared_ptr<const DataSplits> LocalEvaluator::data(const std::string& dataset, const EvalRequest& request) {
  DataOptions data_options;
  auto dir = options_.data_dirs.find(dataset);
  if (dir != options_.data_dirs.end()) data_options.data_dir = dir->second;
  data_options.cache_dir = options_.cache_dir;
  data_options.validation_size = request.validation_size;
  data_options.train_size = request.train_size;
  // One fixed split for every candidate: rewards stay comparable across seeds.
  data_options.split_seed = 0;
  data_options.split = request.split;
  const std::string key = dataset + "|" + data_options.data_dir + "|" + std::to_string(request.validation_size) +
                          "|" + std::to_string(request.train_size) + "|" + request.split;
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = cache_.find(key);
  if (found != cache_.end()) return found->second;
  auto loaded = std::make_shared<const DataSplits>(options_.loader(dataset, data_options));
  cache_.emplace(key, loaded);
  return loaded;
}

namespace {

// The record's first fields, and the rule resolved; false (the record invalid) when the rule does not resolve.
bool start_record(const EvalRequest& request, const TaskSpec& task, EvalRecord& record,
                  optimizers::ResolvedRule& rule) {
  record.rule = request.rule;
  record.task = task.name;
  record.seed = request.seed;
  try {
    rule = optimizers::resolve_rule(request.rule);
  } catch (const UserError& e) {
    record.status = Status::kInvalid;
    record.message = e.what();
    record.val_acc = record.test_acc = kNaN;
    return false;
  }
  record.canonical = optimizers::canonical_text(rule);
  return true;
}

void fill_record(const TrainResult& result, EvalRecord& record) {
  record.status = result.status;
  record.message = result.message;
  record.reward = result.reward;
  record.hurdle_acc = result.hurdle_acc;
  record.val_acc = result.val_acc;
  record.test_acc = result.test_acc;
  record.lr = result.lr;
  record.total_steps = result.total_steps;
  record.steps_done = result.steps_done;
  record.steps_per_epoch = result.steps_per_epoch;
  record.grid = result.grid;
  record.epochs = result.epochs;
  record.final_loss = result.epochs.empty() ? kNaN : result.epochs.back().train_loss;
  record.seconds = result.seconds;
}

void failed_to_run(const c10::Error& e, EvalRecord& record) {
  // A rule LibTorch cannot execute is the candidate's failure, not the process's.
  record.status = Status::kInvalid;
  record.message = std::string("the rule failed to run: ") + e.what_without_backtrace();
  record.val_acc = record.test_acc = kNaN;
}

}  // namespace

TrainConfig train_config(const EvalRequest& request, const TaskSpec& task) {
  if (request.augment) check_augmentable(task.dataset, "augment");
  TrainConfig config;
  config.model = task.model;
  config.epochs = request.epochs;
  config.steps = request.steps;
  config.batch_size = request.batch_size;
  config.lr = request.lr;
  config.horizon_epochs = request.horizon_epochs;
  config.lr_grid = request.lr_grid;
  config.lr_search = request.lr_search;
  config.recipe = request.recipe;
  config.hurdle = request.hurdle;
  config.seed = request.seed;
  config.device = device_of(request.device);
  config.dtype = dtype_of(request.dtype, false);
  config.bfloat16_autocast = request.dtype == "bfloat16";
  config.augment = request.augment;
  config.test_every_epoch = request.test_every_epoch;
  config.measure_test = request.test_accuracy;
  config.time_limit_seconds = request.time_limit;
  return config;
}

std::vector<EvalRecord> Evaluator::evaluate_population(const std::vector<EvalRequest>& requests) {
  std::vector<EvalRecord> records;
  for (const EvalRequest& r : requests) records.push_back(evaluate(r));
  return records;
}

std::string population_alone_reason(const EvalRequest& request) {
  const TaskSpec task = parse_task_name(request.task);
  if (task.analytic) return task.name + " is an analytic task (populations stack the children of a network)";
  if (!has_population_form(task.model)) {
    try {
      check_population_model(task.model, "");
    } catch (const UserError& e) {
      return e.what();
    }
  }
  if (request.dtype == "bfloat16") {
    return "dtype bfloat16 (autocast) trains each child alone: populations train in float32 or float64";
  }
  if (request.lr == 0 && request.lr_search != "full") {
    return "the lr search is successive halving (lr_search: " + request.lr_search +
           "), whose trials are chosen one round after another; with lr_search: full, or a fixed lr, children train "
           "side by side";
  }
  return "";
}

std::string population_key(const EvalRequest& request) {
  const TaskSpec task = parse_task_name(request.task);
  if (task.analytic || !has_population_form(task.model)) return "";
  if (!population_alone_reason(request).empty()) return "";
  std::ostringstream key;
  key.precision(17);
  key << task.name << '|' << request.epochs << '|' << request.steps << '|' << request.batch_size << '|'
      << request.horizon_epochs << '|' << request.hurdle << '|' << recipe_text(request.recipe) << '|' << request.seed
      << '|' << request.device << '|' << request.dtype << '|' << request.validation_size << '|'
      << request.split << '|' << request.train_size << '|' << request.augment << '|' << request.test_every_epoch << '|'
      << request.test_accuracy << '|' << request.time_limit;
  return key.str();
}

int measure_population_size(const EvalRequest& request, std::string& report) {
  const TaskSpec task = parse_task_name(request.task);
  if (task.analytic) throw UserError(task.name + " is an analytic task: it has no population to measure");
  TrainConfig config;
  config.model = task.model;
  config.batch_size = request.batch_size;
  config.device = torch::Device(request.device);
  config.dtype = request.dtype == "float64" ? torch::kFloat64 : torch::kFloat32;
  const PopulationChoice choice = measure_population_choice(task.dataset, config, 64, 10);
  std::ostringstream text;
  text << "children-steps/s:";
  for (const auto& [size, rate] : choice.rates) text << " K=" << size << " " << static_cast<int64_t>(rate);
  if (!choice.stopped.empty()) text << "; stopped at " << choice.stopped;
  report = text.str();
  return static_cast<int>(choice.k);
}

EvalRecord LocalEvaluator::evaluate(const EvalRequest& request) {
  const TaskSpec task = parse_task_name(request.task);
  EvalRecord record;
  if (options_.threads > 0) at::set_num_threads(options_.threads);
  optimizers::ResolvedRule rule;
  if (!start_record(request, task, record, rule)) return record;

  if (task.analytic) {
    if (!is_default(request.recipe)) {
      throw UserError("the training recipe (" + recipe_text(request.recipe) + ") applies to image tasks; " +
                      task.name + " is an analytic objective");
    }
    evaluate_objective(rule, task, request, record);
    return record;
  }

  const TrainConfig config = train_config(request, task);
  const std::shared_ptr<const DataSplits> data = this->data(task.dataset, request);
  record.data = data->provenance;
  try {
    if (options_.before_training) options_.before_training({&rule});
    fill_record(train_classifier(rule, *data, config, options_.progress), record);
  } catch (const c10::Error& e) {
    failed_to_run(e, record);
  }
  return record;
}

std::vector<EvalRecord> LocalEvaluator::evaluate_population(const std::vector<EvalRequest>& requests) {
  const std::string key = requests.empty() ? "" : population_key(requests.front());
  bool same = !key.empty();
  for (const EvalRequest& r : requests) same = same && population_key(r) == key;
  if (!same) return Evaluator::evaluate_population(requests);
  const TaskSpec task = parse_task_name(requests.front().task);
  if (options_.threads > 0) at::set_num_threads(options_.threads);
  std::vector<EvalRecord> records(requests.size());
  std::vector<optimizers::ResolvedRule> rules(requests.size());
  std::vector<PopulationRun> runs;
  std::vector<size_t> trained;  // the requests whose rule resolved, in runs' order
  for (size_t i = 0; i < requests.size(); ++i) {
    if (!start_record(requests[i], task, records[i], rules[i])) continue;
    runs.push_back({&rules[i], requests[i].lr, requests[i].lr_grid});
    trained.push_back(i);
  }
  if (runs.empty()) return records;
  TrainConfig config = train_config(requests.front(), task);
  // Each request's time limit is its own child's: the population's is their sum.
  config.time_limit_seconds *= static_cast<double>(runs.size());
  const std::shared_ptr<const DataSplits> data = this->data(task.dataset, requests.front());
  std::vector<TrainResult> results;
  try {
    if (options_.before_training) {
      std::vector<const optimizers::ResolvedRule*> trained_rules;
      for (const PopulationRun& r : runs) trained_rules.push_back(r.rule);
      options_.before_training(trained_rules);
    }
    results = train_population_runs(runs, *data, config);
  } catch (const c10::Error&) {
    // LibTorch could not run the population: out of memory (a device too small for K children), or a rule it cannot
    // execute. Each half is tried as a population of its own, down to single requests, whose evaluate() records the
    // rule's failure as its own; the other children's records are the same either way.
    std::vector<EvalRequest> halves[2];
    for (size_t j = 0; j < trained.size(); ++j) {
      halves[j < (trained.size() + 1) / 2 ? 0 : 1].push_back(requests[trained[j]]);
    }
    size_t at = 0;
    for (const std::vector<EvalRequest>& half : halves) {
      if (half.empty()) continue;
      const std::vector<EvalRecord> done =
          half.size() == 1 ? std::vector<EvalRecord>{evaluate(half.front())} : evaluate_population(half);
      for (const EvalRecord& r : done) records[trained[at++]] = r;
    }
    return records;
  }
  for (size_t j = 0; j < trained.size(); ++j) {
    records[trained[j]].data = data->provenance;
    fill_record(results[j], records[trained[j]]);
  }
  return records;
}

}  // namespace nos::tasks
