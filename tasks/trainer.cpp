// The training loop of a child network: batches from uint8 data, the rule's optimizer, checks, evaluation, lr grid.
#include "tasks/trainer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>
#include <sstream>

#include "common/error.h"
#include "common/text.h"
#include "tasks/child_policy.h"
#include "tasks/device_data.h"
#include "tasks/lr_choice.h"
#include "tasks/models.h"

namespace nos::tasks {

namespace {


// Where one run (a grid trial or the full run) stands relative to the whole job, for progress and ETA.
struct Job {
  Clock::time_point start;
  int64_t steps_total = 0;  // every step of every trial and of the full run
  int64_t steps_done = 0;
  double deadline_seconds = 0;
  TrainProgressCallback progress;
  bool timed_out() const { return deadline_seconds > 0 && seconds_since(start) > deadline_seconds; }
  double eta() const {
    if (steps_done == 0) return kNaN;
    return seconds_since(start) / static_cast<double>(steps_done) * static_cast<double>(steps_total - steps_done);
  }
};

struct RunOutcome {
  Status status = Status::kOk;
  std::string message;
  int64_t steps_done = 0;
  double last_train_loss = kNaN;
  std::vector<EpochMetrics> epochs;
};

// One freshly initialised child: model, optimizer and batch-order generator, and its training step. Kept apart from
// the epoch loop so the benchmark times exactly this step.
class Child {
 public:
  Child(const optimizers::ResolvedRule& rule, const DeviceData& d, int64_t classes, const TrainConfig& config,
        double lr, int64_t total_steps)
      : d_(d),
        config_(config),
        model_(initialised_model(d, classes, config)),
        data_gen_(at::make_generator<at::CPUGeneratorImpl>(mix_seed(config.seed, 2))) {
    if (d.memory_format == torch::MemoryFormat::ChannelsLast) {
      torch::NoGradGuard no_grad;
      for (torch::Tensor& p : model_->parameters()) {
        if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
      }
    }
    model_->train();
    optimizer_ = std::make_unique<RunOptimizer>(rule, *model_, config, lr, total_steps,
                                                steps_per_epoch(d.train_images.size(0), config.batch_size));
  }

  // A fresh random order of the training set for one epoch.
  torch::Tensor epoch_order() {
    return torch::randperm(d_.train_images.size(0), data_gen_, torch::TensorOptions().dtype(torch::kInt64))
        .to(config_.device);
  }

  // One optimizer step on the images at `index`; returns the batch loss (on the device, not read back).
  torch::Tensor step(const torch::Tensor& index) {
    torch::Tensor images = d_.normalise(d_.train_images.index_select(0, index));
    if (config_.augment) images = augment_batch(images, data_gen_);
    torch::Tensor logits = model_->forward(images);
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits, d_.train_labels.index_select(0, index));
    optimizer_->optimizer->zero_grad();
    loss.backward();
    optimizer_->step(model_->parameters(), config_.recipe, step_++);
    return loss.detach();
  }

  ClassifierImpl& model() { return *model_; }

 private:
  const DeviceData& d_;
  const TrainConfig& config_;
  Classifier model_;
  at::Generator data_gen_;
  std::unique_ptr<RunOptimizer> optimizer_;
  int64_t step_ = 0;  // steps taken
};

// A child and how far its training got: what a grid trial hands to the full run it is the start of. A run can be
// paused inside an epoch (a halving rung) and continued: the epoch's batch order and loss sum are kept here, so a
// paused and continued run is bit for bit one that never paused.
struct ChildRun {
  std::unique_ptr<Child> child;
  double lr = 0;
  int64_t total_steps = 0;   // T of the run (for its decays and schedule)
  int64_t budget = 0;        // the steps it trains at most: its last epoch ends here (<= total_steps)
  RunOutcome outcome;
  torch::Tensor first_loss;  // the loss of the very first batch: the yardstick of a blow-up
  LossGuard guard;           // divergence: its bound is read from first_loss when first needed
  double last_val = -1;      // the last validation accuracy, for progress
  // The epoch under way: its batch order, the steps done in it, its loss sum and what was last reported of it.
  torch::Tensor order;
  int64_t epoch_pos = 0;
  torch::Tensor loss_sum;
  double reported_sum = 0;
  int64_t reported_steps = 0;
  Clock::time_point epoch_start;
};

// Trains run.child on until it has done `target` steps (T stays what the child was built with), evaluating after
// every epoch; stops early on divergence or timeout, with the status in run.outcome. A target inside an epoch pauses
// the run there (its mean loss so far is checked, nothing is evaluated); a later call continues the epoch.
void advance(ChildRun& run, const DeviceData& d, const TrainConfig& config, int64_t target, bool measure_test,
             const std::string& phase, Job& job) {
  RunOutcome& outcome = run.outcome;
  Child& child = *run.child;
  const int64_t n = d.train_images.size(0);
  const int64_t per_epoch = steps_per_epoch(n, config.batch_size);
  const int64_t batch = std::min(config.batch_size, n);
  // Progress counts the whole run (its budget), not this call's target: a run is advanced in parts.
  const int64_t epochs = (run.budget + per_epoch - 1) / per_epoch;
  const int64_t eval_batch = config.eval_batch_size > 0 ? config.eval_batch_size : config.batch_size;
  const auto acc_options = torch::TensorOptions().dtype(torch::kFloat64).device(config.device);

  auto stop = [&](Status status, const std::string& message) {
    outcome.status = status;
    outcome.message = message;
  };
  // Judges a mean loss read back: false (and status set) when it shows divergence.
  auto loss_ok = [&](double mean_loss, int64_t step) {
    if (!run.guard.has_bound()) run.guard.set_first_loss(run.first_loss.item<double>());
    const std::string diverged = run.guard.judge(mean_loss, step);
    if (diverged.empty()) return true;
    stop(Status::kDiverged, diverged);
    return false;
  };

  while (outcome.status == Status::kOk && outcome.steps_done < target) {
    const int64_t epoch = outcome.steps_done / per_epoch + 1;
    // This epoch ends after a whole epoch or at the end of the run.
    const int64_t epoch_steps = std::min(per_epoch, run.budget - (epoch - 1) * per_epoch);
    if (run.epoch_pos == 0) {
      run.epoch_start = Clock::now();
      run.order = child.epoch_order();
      run.loss_sum = torch::zeros({}, acc_options);
      run.reported_sum = 0;
      run.reported_steps = 0;
    }
    const int64_t stop_at = std::min(epoch_steps, run.epoch_pos + (target - outcome.steps_done));
    while (run.epoch_pos < stop_at) {
      const int64_t s = run.epoch_pos;
      torch::Tensor loss = child.step(run.order.narrow(0, s * batch, batch));
      run.loss_sum.add_(loss);
      if (!run.first_loss.defined()) run.first_loss = loss.clone();
      ++run.epoch_pos;
      ++outcome.steps_done;
      ++job.steps_done;
      if ((s + 1) % config.check_every == 0 && s + 1 < stop_at) {
        const double sum = run.loss_sum.item<double>();
        const double window = (sum - run.reported_sum) / static_cast<double>(s + 1 - run.reported_steps);
        run.reported_sum = sum;
        run.reported_steps = s + 1;
        if (!loss_ok(window, outcome.steps_done)) break;
        if (job.progress) {
          job.progress({phase, run.lr, epoch, epochs, outcome.steps_done, run.budget, window, run.last_val,
                        seconds_since(job.start), job.eta()});
        }
        if (job.timed_out()) {
          stop(Status::kTimeout, time_limit_message(job.deadline_seconds,
                                             "at step " + std::to_string(outcome.steps_done), false));
          break;
        }
      }
    }
    if (outcome.status != Status::kOk) break;
    if (run.epoch_pos < epoch_steps) {
      // Paused inside the epoch.
      const double mean_loss = run.loss_sum.item<double>() / static_cast<double>(run.epoch_pos);
      outcome.last_train_loss = mean_loss;
      loss_ok(mean_loss, outcome.steps_done);
      break;
    }
    run.epoch_pos = 0;
    const double mean_loss = run.loss_sum.item<double>() / static_cast<double>(epoch_steps);
    outcome.last_train_loss = mean_loss;
    if (!loss_ok(mean_loss, outcome.steps_done)) break;
    EpochMetrics m;
    m.epoch = epoch;
    m.steps = outcome.steps_done;
    m.train_loss = mean_loss;
    m.lr = run.lr;
    m.val_acc = accuracy(child.model(), d, d.val_images, d.val_labels, eval_batch);
    const bool last = outcome.steps_done == run.budget;
    m.test_acc = measure_test && config.measure_test && (config.test_every_epoch || last)
                     ? accuracy(child.model(), d, d.test_images, d.test_labels, eval_batch)
                     : kNaN;
    m.seconds = seconds_since(run.epoch_start);
    run.last_val = m.val_acc;
    outcome.epochs.push_back(m);
    if (job.progress) {
      job.progress({phase, run.lr, epoch, epochs, outcome.steps_done, run.budget, mean_loss, run.last_val,
                    seconds_since(job.start), job.eta(), true});
    }
    if (!last && job.timed_out()) {
      stop(Status::kTimeout, time_limit_message(job.deadline_seconds, "after epoch " + std::to_string(epoch), false));
    }
  }
}

// The validation accuracy where the run stands: its last epoch's, or measured now (on the first
// rung_validation_size validation images) when it is paused in an epoch.
double current_val_acc(ChildRun& run, const DeviceData& d, const TrainConfig& config) {
  const RunOutcome& o = run.outcome;
  if (!o.epochs.empty() && o.epochs.back().steps == o.steps_done) return o.epochs.back().val_acc;
  const int64_t eval_batch = config.eval_batch_size > 0 ? config.eval_batch_size : config.batch_size;
  const int64_t n = d.val_images.size(0);
  const int64_t k = config.rung_validation_size > 0 ? std::min(n, config.rung_validation_size) : n;
  run.last_val = accuracy(run.child->model(), d, d.val_images.narrow(0, 0, k), d.val_labels.narrow(0, 0, k),
                          eval_batch);
  return run.last_val;
}

ChildRun fresh_run(const optimizers::ResolvedRule& rule, const DeviceData& d, int64_t classes,
                   const TrainConfig& config, double lr, int64_t total_steps) {
  ChildRun run;
  run.child = std::make_unique<Child>(rule, d, classes, config, lr, total_steps);
  run.lr = lr;
  run.total_steps = total_steps;
  const int64_t per_epoch = steps_per_epoch(d.train_images.size(0), config.batch_size);
  run.budget = std::min(total_steps, config.steps > 0 ? config.steps : config.epochs * per_epoch);
  return run;
}

// What an lr search hands to the full run: the chosen lr and its run, and where the hurdle point left it.
struct LrSearch {
  double lr = kNaN;            // NaN: every lr diverged (or the search timed out, or the run is hurdled)
  ChildRun run;                // the chosen lr's run, to be continued (empty when none)
  double hurdle_acc = kNaN;    // the best validation accuracy at the hurdle point
  int64_t hurdle_steps = 0;    // steps each lr had trained at the hurdle point
  bool hurdled = false;        // hurdle_acc is below config.hurdle: stop (lr is the best lr at the hurdle point)
  std::string timeout;         // the message of a trial that timed out
};

// The steps each lr trains in successive halving: one entry per rung (a target in steps), with the number of lrs
// that train to it when none diverges.
std::vector<std::pair<int64_t, size_t>> halving_rungs(size_t lrs, int64_t trial_steps) {
  std::vector<std::pair<int64_t, size_t>> rungs;
  double fraction = kHalvingFirstRung;
  size_t alive = lrs;
  while (true) {
    const auto target = std::min<int64_t>(
        trial_steps, std::max<int64_t>(1, static_cast<int64_t>(std::ceil(fraction * static_cast<double>(trial_steps)))));
    if (rungs.empty() || target > rungs.back().first) rungs.emplace_back(target, alive);
    // Two or fewer left: this rung picks the winner.
    if (alive <= 2 || target == trial_steps) break;
    alive = (alive + 1) / 2;
    fraction *= 2;
  }
  return rungs;
}

// The paper's protocol: every lr trains one trial from the same initialisation; the best validation accuracy wins.
// The hurdle point is after the last trial.
LrSearch full_grid(const optimizers::ResolvedRule& rule, const DeviceData& d, int64_t classes,
                   const TrainConfig& config, int64_t total_steps, int64_t trial_steps, std::vector<GridTrial>& grid,
                   Job& job) {
  LrSearch out;
  std::vector<LrTrial> trials;
  for (size_t i = 0; i < config.lr_grid.size(); ++i) {
    const double trial_lr = config.lr_grid[i];
    const Clock::time_point trial_start = Clock::now();
    const std::string phase = "lr grid " + std::to_string(i + 1) + "/" + std::to_string(config.lr_grid.size());
    ChildRun run = fresh_run(rule, d, classes, config, trial_lr, total_steps);
    advance(run, d, config, trial_steps, /*measure_test=*/false, phase, job);
    GridTrial trial;
    trial.lr = trial_lr;
    trial.status = run.outcome.status;
    trial.steps = run.outcome.steps_done;
    trial.train_loss = run.outcome.last_train_loss;
    trial.val_acc = run.outcome.status == Status::kOk && !run.outcome.epochs.empty() ? run.outcome.epochs.back().val_acc : 0.0;
    trial.seconds = seconds_since(trial_start);
    grid.push_back(trial);
    // Skipped trial steps (a diverged trial) no longer count towards the ETA.
    job.steps_total -= trial_steps - run.outcome.steps_done;
    if (run.outcome.status == Status::kTimeout) {
      out.lr = choose_lr(trials);
      out.timeout = run.outcome.message;
      return out;
    }
    // The choice over the trials so far is the earlier best or this trial: keep the run only when it is this one.
    trials.push_back({trial_lr, trial.status, trial.val_acc});
    out.lr = choose_lr(trials);
    if (out.lr == trial_lr) out.run = std::move(run);
  }
  if (!std::isnan(out.lr)) {
    out.hurdle_acc = out.run.outcome.epochs.back().val_acc;
    out.hurdle_steps = trial_steps;
  }
  return out;
}

// Successive halving over the grid (see TrainConfig::lr_search). The hurdle point is after the first rung: the best
// accuracy there decides, before any lr trains further.
LrSearch halving_grid(const optimizers::ResolvedRule& rule, const DeviceData& d, int64_t classes,
                      const TrainConfig& config, int64_t total_steps, int64_t trial_steps,
                      std::vector<GridTrial>& grid, Job& job) {
  LrSearch out;
  const size_t n = config.lr_grid.size();
  std::vector<ChildRun> runs(n);
  grid.assign(n, GridTrial{});
  std::vector<size_t> alive(n);
  for (size_t i = 0; i < n; ++i) {
    alive[i] = i;
    grid[i].lr = config.lr_grid[i];
  }
  const std::vector<std::pair<int64_t, size_t>> rungs = halving_rungs(n, trial_steps);
  for (size_t r = 0; r < rungs.size(); ++r) {
    const int64_t target = rungs[r].first;
    for (size_t k = 0; k < alive.size(); ++k) {
      const size_t i = alive[k];
      const Clock::time_point start = Clock::now();
      if (!runs[i].child) runs[i] = fresh_run(rule, d, classes, config, config.lr_grid[i], total_steps);
      ChildRun& run = runs[i];
      const int64_t before = run.outcome.steps_done;
      advance(run, d, config, target, /*measure_test=*/false,
              "lr halving " + std::to_string(r + 1) + "/" + std::to_string(rungs.size()) + " lr " +
                  std::to_string(k + 1) + "/" + std::to_string(alive.size()),
              job);
      GridTrial& trial = grid[i];
      trial.status = run.outcome.status;
      trial.steps = run.outcome.steps_done;
      trial.train_loss = run.outcome.last_train_loss;
      trial.val_acc = run.outcome.status == Status::kOk ? current_val_acc(run, d, config) : 0.0;
      trial.seconds += seconds_since(start);
      job.steps_total -= (target - before) - (run.outcome.steps_done - before);
      if (run.outcome.status == Status::kTimeout) {
        out.timeout = run.outcome.message;
        return out;
      }
    }
    // The lrs still fine, best first (an exact tie: the smaller lr, as choose_lr).
    std::vector<size_t> ranked;
    for (size_t i : alive) {
      if (grid[i].status == Status::kOk && std::isfinite(grid[i].val_acc)) ranked.push_back(i);
    }
    std::sort(ranked.begin(), ranked.end(), [&](size_t a, size_t b) {
      if (grid[a].val_acc != grid[b].val_acc) return grid[a].val_acc > grid[b].val_acc;
      return grid[a].lr < grid[b].lr;
    });
    if (ranked.empty()) return out;  // every lr diverged
    if (r == 0) {
      out.hurdle_acc = grid[ranked.front()].val_acc;
      out.hurdle_steps = target;
      if (out.hurdle_acc < config.hurdle) {
        out.hurdled = true;
        out.lr = grid[ranked.front()].lr;
        return out;
      }
    }
    const bool last = ranked.size() == 1 || r + 1 == rungs.size();
    const size_t keep = last ? 1 : (ranked.size() + 1) / 2;
    for (size_t k = keep; k < ranked.size(); ++k) {
      grid[ranked[k]].status = Status::kHalved;
      runs[ranked[k]] = ChildRun();
    }
    alive.assign(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep));
    if (last) break;
  }
  out.lr = grid[alive.front()].lr;
  out.run = std::move(runs[alive.front()]);
  return out;
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
  job.steps_total = result.total_steps + grid_steps;

  auto finish = [&](Status status, const std::string& message) {
    result.status = status;
    result.message = message;
    result.reward = reward_of(status, result.val_acc, result.hurdle_acc);
    result.seconds = seconds_since(job.start);
    return result;
  };
  auto hurdled = [&](double lr, int64_t steps) {
    result.lr = lr;
    result.steps_done = steps;
    result.val_acc = result.hurdle_acc;
    result.test_acc = kNaN;
    return finish(Status::kHurdle, hurdle_message(config, result.hurdle_acc, hurdle_point(use_grid, halving, steps)));
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
      return finish(failed.status, failed.message);
    }
    if (search.hurdled) return hurdled(lr, search.hurdle_steps);
    run = std::move(search.run);
    // The trial's steps are the full run's first steps: they no longer count twice towards the ETA.
    job.steps_total -= run.outcome.steps_done;
    const bool at_epoch_end = !run.outcome.epochs.empty() && run.outcome.epochs.back().steps == run.outcome.steps_done;
    const bool finished = run.outcome.steps_done == result.total_steps;
    if (at_epoch_end && config.measure_test && (config.test_every_epoch || finished)) {
      const int64_t eval_batch = config.eval_batch_size > 0 ? config.eval_batch_size : config.batch_size;
      run.outcome.epochs.back().test_acc =
          accuracy(run.child->model(), d, d.test_images, d.test_labels, eval_batch);
    }
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
  return finish(run.outcome.status, run.outcome.message);
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
