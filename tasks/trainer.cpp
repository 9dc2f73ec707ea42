// The training of a child network: the configuration's checks, parameter groups, and train_classifier, which picks
// the lr (a grid search, or the given one) and trains the budget; the throughput benchmark of its step.
#include "tasks/trainer.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <limits>

#include "common/error.h"
#include "common/text.h"
#include "tasks/child_policy.h"
#include "tasks/child_run.h"
#include "tasks/device_data.h"
#include "tasks/lr_grid.h"
#include "tasks/models.h"

namespace nos::tasks {

using training::advance;
using training::Child;
using training::ChildRun;
using training::evaluation_batch;
using training::fresh_run;
using training::full_grid;
using training::halving_grid;
using training::halving_rungs;
using training::Job;
using training::LrSearch;

namespace {

// The steps the lr search trains (all its trials, or every rung's lrs), for the ETA: 0 at a fixed lr.
int64_t lr_search_steps(const TrainConfig& config, bool use_grid, bool halving, int64_t trial_steps) {
  int64_t grid_steps = 0;
  if (halving) {
    int64_t reached = 0;
    for (const auto& [target, lrs] : halving_rungs(config.lr_grid.size(), trial_steps)) {
      grid_steps += (target - reached) * static_cast<int64_t>(lrs);
      reached = target;
    }
  } else if (use_grid) {
    grid_steps = trial_steps * static_cast<int64_t>(config.lr_grid.size());
  }
  return grid_steps;
}

// The chosen grid run's test accuracy, when it stands at the end of an epoch whose test accuracy is asked for (the
// grid trained it without).
void measure_grid_run_test(ChildRun& run, const DeviceData& d, const TrainConfig& config, int64_t total_steps) {
  const bool at_epoch_end = !run.outcome.epochs.empty() && run.outcome.epochs.back().steps == run.outcome.steps_done;
  const bool finished = run.outcome.steps_done == total_steps;
  if (at_epoch_end && config.measure_test && (config.test_every_epoch || finished)) {
    const int64_t eval_batch = evaluation_batch(config);
    run.outcome.epochs.back().test_acc =
        accuracy(run.child->model(), d, d.test_images, d.test_labels, eval_batch);
  }
}

// The result with its status, message, reward and time, once the job is over.
TrainResult finished(TrainResult& result, Status status, const std::string& message, const Job& job) {
  result.status = status;
  result.message = message;
  result.reward = reward_of(status, result.val_acc, result.hurdle_acc);
  result.seconds = seconds_since(job.start);
  return result;
}

}  // namespace

void check_training_config(const DataSplits& data, const TrainConfig& config) {
  auto bad = [](const std::string& what) { throw UserError("training configuration: " + what); };
  if (config.batch_size < 1) bad("batch size must be >= 1, got " + std::to_string(config.batch_size));
  if (config.steps < 0) bad("steps must be >= 0 (0: use epochs), got " + std::to_string(config.steps));
  if (config.steps == 0 && config.epochs < 1) bad("epochs must be >= 1, got " + std::to_string(config.epochs));
  if (!(config.lr >= 0) || !std::isfinite(config.lr)) bad("lr must be a finite number > 0 (or 0: use the grid)");
  if (config.lr == 0) {
    if (config.lr_grid.empty()) bad("the lr grid is empty");
    const std::vector<std::string> searches = lr_search_names();
    if (std::find(searches.begin(), searches.end(), config.lr_search) == searches.end()) {
      bad("unknown lr search '" + config.lr_search + "' (expected full or halving)");
    }
    for (double lr : config.lr_grid) {
      if (!(lr > 0) || !std::isfinite(lr)) bad("the lr grid holds " + number_text(lr) + "; each lr must be > 0");
    }
  }
  if (config.eval_batch_size < 0) bad("evaluation batch size must be >= 0 (0: the training batch size)");
  if (config.rung_validation_size < 0) bad("rung_validation_size must be >= 0 (0: the whole validation split)");
  if (config.check_every < 1) bad("check_every must be >= 1");
  if (!(config.hurdle >= 0 && config.hurdle <= 1)) bad("the hurdle must be an accuracy in [0, 1]");
  if (config.dtype != torch::kFloat32 && config.dtype != torch::kFloat64) bad("dtype must be float32 or float64");
  if (config.bfloat16_autocast && config.dtype != torch::kFloat32) {
    bad("bfloat16 autocast keeps float32 weights: dtype must be float32");
  }
  if (data.train.size() < 1) bad("data set '" + data.name + "' has no training images");
  if (data.validation.size() < 1) {
    bad("data set '" + data.name + "' has no validation images (the reward is the validation accuracy)");
  }
  if (data.train.images.dim() != 4) bad("training images must be [N, C, H, W]");
}

std::vector<double> default_lr_grid() { return {1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0}; }

std::vector<std::string> lr_search_names() { return {"full", "halving"}; }

int64_t steps_per_epoch(int64_t train_size, int64_t batch_size) {
  NOS_CHECK(train_size >= 1 && batch_size >= 1, "steps_per_epoch of " << train_size << " / " << batch_size);
  return std::max<int64_t>(1, train_size / batch_size);
}

std::vector<optimizers::ParamGroup> parameter_groups(const ClassifierImpl& model,
                                                     const optimizers::RuleOptions& options, const Recipe& recipe) {
  const std::vector<torch::Tensor> penalised = model.decayed_parameters();
  const bool own = std::isnan(recipe.weight_decay);
  const bool decoupled = recipe.weight_decay_mode == "decoupled";
  std::vector<optimizers::ParamGroup> groups;
  for (const torch::Tensor& p : model.parameters()) {
    bool has_l2 = false;
    for (const torch::Tensor& q : penalised) has_l2 = has_l2 || p.is_same(q);
    const double l2 = has_l2 ? model.weight_decay() : 0.0;
    const bool masked = recipe.weight_decay_mask == "all" || p.dim() >= 2;
    optimizers::ParamGroup key;
    if (own) {
      key.weight_decay = has_l2 ? l2 : options.weight_decay();
    } else {
      key.weight_decay = l2 + (masked && !decoupled ? recipe.weight_decay : 0.0);
      key.decoupled_weight_decay = masked && decoupled ? recipe.weight_decay : 0.0;
    }
    auto same = [&](const optimizers::ParamGroup& g) {
      const bool both_nan = std::isnan(g.decoupled_weight_decay) && std::isnan(key.decoupled_weight_decay);
      return g.weight_decay == key.weight_decay &&
             (both_nan || g.decoupled_weight_decay == key.decoupled_weight_decay);
    };
    auto found = std::find_if(groups.begin(), groups.end(), same);
    if (found == groups.end()) found = groups.insert(groups.end(), key);
    found->params.push_back(p);
  }
  return groups;
}

void check_rule_recipe(const optimizers::ResolvedRule& rule, const std::string& model, const Recipe& recipe) {
  // Only LibTorch's own classes and learned optimizers refuse weight decays; a compiled rule takes any.
  if (std::holds_alternative<optimizers::CompiledRule>(rule.kind)) return;
  torch::NoGradGuard no_grad;
  const Classifier instance = make_model(model, 3, 32, 32, 10);
  const optimizers::RuleOptions options = rule.defaults;
  const std::string label = rule.name.empty() ? "'" + rule.text + "'" : rule.name;
  try {
    optimizers::make_training_optimizer(rule, parameter_groups(*instance, options, recipe), options);
  } catch (const UserError& e) {
    const std::string given = is_default(recipe) ? "the rule's and the model's own weight decay" : recipe_text(recipe);
    throw UserError(label + " cannot train " + model + " with " + given + ": " + e.what());
  }
}

std::string rule_recipe_warning(const optimizers::ResolvedRule& rule, const Recipe& recipe) {
  const double own = rule.defaults.decoupled_weight_decay();
  if (std::isnan(recipe.weight_decay) || recipe.weight_decay_mode != "coupled" || !(own > 0)) return "";
  const std::string label = rule.name.empty() ? "'" + rule.text + "'" : rule.name;
  return label + "'s own decoupled weight decay (" + nos::format_number(own) + ") is replaced by weight_decay " +
         nos::format_number(recipe.weight_decay) + " applied coupled (L2 added to the gradient, weight_decay_mode "
         "coupled, the default): it then runs as its coupled twin, not as " + label +
         "; add --weight-decay-mode decoupled (config key weight_decay_mode) to keep a decoupled decay";
}

TrainResult train_classifier(const optimizers::ResolvedRule& rule, const DataSplits& data, const TrainConfig& config,
                             const TrainProgressCallback& progress) {
  check_training_config(data, config);
  NOS_CHECK(rule.program() != nullptr || rule.learned() != nullptr, "rule '" << rule.name << "' has no compiled program");
  // Fails early, before any data moves, for an unknown model or a shape it cannot take.
  make_model(config.model, data.train.images.size(1), data.train.images.size(2), data.train.images.size(3),
             data.num_classes);

  TrainResult result;
  Job job;
  job.start = Clock::now();
  job.progress = progress;
  job.deadline_seconds = config.time_limit_seconds;
  const DeviceData d = to_device(data, config);
  result.steps_per_epoch = steps_per_epoch(data.train.size(), config.batch_size);
  result.total_steps = config.steps > 0 ? config.steps : config.epochs * result.steps_per_epoch;
  // T of every run here: the budget, or the longer run this one stands for.
  const int64_t horizon = config.horizon_epochs > 0
                              ? std::max(result.total_steps, config.horizon_epochs * result.steps_per_epoch)
                              : result.total_steps;
  check_recipe(config.recipe, horizon, result.steps_per_epoch);
  const int64_t trial_steps = std::min(result.steps_per_epoch, result.total_steps);
  const bool use_grid = config.lr == 0;
  const bool halving = use_grid && config.lr_search == "halving";
  job.steps_total = result.total_steps + lr_search_steps(config, use_grid, halving, trial_steps);

  auto hurdled = [&](double lr, int64_t steps) {
    result.lr = lr;
    result.steps_done = steps;
    result.val_acc = result.hurdle_acc;
    result.test_acc = kNaN;
    return finished(result, Status::kHurdle,
                    hurdle_message(config, result.hurdle_acc, hurdle_point(use_grid, halving, steps)), job);
  };

  double lr = config.lr;
  // The chosen lr's grid run, kept: a trial is bit for bit the start of a fresh run at its lr (same seed, same
  // initialisation, same batch order, same T), so the full run continues it instead of training it again.
  ChildRun run;
  if (use_grid) {
    LrSearch search = halving ? halving_grid(rule, d, data.num_classes, config, horizon, trial_steps, result.grid, job)
                              : full_grid(rule, d, data.num_classes, config, horizon, trial_steps, result.grid, job);
    lr = search.lr;
    result.lr = lr;
    result.hurdle_acc = search.hurdle_acc;
    if (!search.timeout.empty() || (!search.hurdled && std::isnan(lr))) {
      result.val_acc = kNaN;
      result.test_acc = kNaN;
      const GridFailure failed = grid_failure(search.timeout);
      return finished(result, failed.status, failed.message, job);
    }
    if (search.hurdled) return hurdled(lr, search.hurdle_steps);
    run = std::move(search.run);
    // The trial's steps are the full run's first steps: they no longer count twice towards the ETA.
    job.steps_total -= run.outcome.steps_done;
    measure_grid_run_test(run, d, config, result.total_steps);
    // The full grid's hurdle point is its last trial: a hurdle stops the chosen run there, if it has more to train.
    if (!halving && stops_at_hurdle(config, result.hurdle_acc, run.outcome.steps_done, result.total_steps)) {
      result.epochs = run.outcome.epochs;
      return hurdled(lr, run.outcome.steps_done);
    }
  } else {
    result.lr = lr;
    run = fresh_run(rule, d, data.num_classes, config, lr, horizon);
    // A fixed lr's hurdle point is the end of the first epoch (or of the run, if shorter).
    advance(run, d, config, trial_steps, /*measure_test=*/true, "train", job);
    if (run.outcome.status == Status::kOk) {
      result.hurdle_acc = run.outcome.epochs.back().val_acc;
      if (stops_at_hurdle(config, result.hurdle_acc, trial_steps, result.total_steps)) {
        result.epochs = run.outcome.epochs;
        return hurdled(lr, run.outcome.steps_done);
      }
    }
  }
  advance(run, d, config, result.total_steps, /*measure_test=*/true, "train", job);
  result.steps_done = run.outcome.steps_done;
  result.epochs = run.outcome.epochs;
  result.val_acc = result.epochs.empty() ? kNaN : result.epochs.back().val_acc;
  result.test_acc = result.epochs.empty() ? kNaN : result.epochs.back().test_acc;
  return finished(result, run.outcome.status, run.outcome.message, job);
}

Throughput measure_training_throughput(const optimizers::ResolvedRule& rule, const DataSplits& data,
                                       const TrainConfig& config, int64_t warmup, int64_t steps) {
  check_training_config(data, config);
  if (!(config.lr > 0)) throw UserError("training configuration: the benchmark needs a fixed lr > 0");
  if (warmup < 0 || steps < 1) throw UserError("training configuration: the benchmark needs steps >= 1");
  const DeviceData d = to_device(data, config);
  Child child(rule, d, data.num_classes, config, config.lr, warmup + steps);
  const int64_t n = data.train.size();
  const int64_t per_epoch = steps_per_epoch(n, config.batch_size);
  const int64_t batch = std::min(config.batch_size, n);
  torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(config.device));
  torch::Tensor order;
  Clock::time_point start = Clock::now();
  std::clock_t cpu_start = std::clock();
  for (int64_t i = 0; i < warmup + steps; ++i) {
    if (i == warmup) {
      loss_sum.item<double>();  // waits for the warm-up steps (a GPU runs ahead of the host)
      start = Clock::now();
      cpu_start = std::clock();
    }
    if (i % per_epoch == 0) order = child.epoch_order();
    loss_sum.add_(child.step(order.narrow(0, (i % per_epoch) * batch, batch)));
  }
  loss_sum.item<double>();
  Throughput t;
  t.steps = steps;
  t.seconds = seconds_since(start);
  t.cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  t.samples_per_second = static_cast<double>(steps * batch) / t.seconds;
  return t;
}

}  // namespace nos::tasks
