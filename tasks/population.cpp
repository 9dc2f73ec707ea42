// Population training (population.h): K children as one stacked model, each exactly its solo run.
#include "tasks/population.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "common/error.h"
#include "common/text.h"
#include "tasks/child_policy.h"
#include "tasks/device_data.h"
#include "tasks/lr_choice.h"
#include "tasks/models.h"

namespace nos::tasks {

namespace {


// One child: its model (whose parameters and buffers are views of the population's stacked tensors), optimizer,
// schedule and where its run stands.
struct Member {
  Classifier model;
  std::unique_ptr<RunOptimizer> optimizer;
  std::vector<torch::Tensor> params;  // model->parameters(), in the order of Population::names_
  double lr = 0;
  int grid_run = -1;          // >= 0: a lane of that grid run (train_population_runs); -1: a fixed-lr child
  bool live = true;
  bool at_trial = false;      // a grid lane still training at the trial's end
  double trial_loss = kNaN;   // the mean training loss of the first epoch (the trial), once reached
  TrainResult result;
  double first_loss = kNaN;
  LossGuard guard;
  double reported_sum = 0;
  int64_t reported_steps = 0;
};

// The stacked model, the members and the shared batch-order generator.
class Population {
 public:
  Population(const std::vector<PopulationMember>& members, const DeviceData& d, int64_t classes,
             const TrainConfig& config, int64_t total_steps)
      : d_(d), config_(config), data_gen_(at::make_generator<at::CPUGeneratorImpl>(mix_seed(config.seed, 2))) {
    stacked_.k = static_cast<int64_t>(members.size());
    for (const PopulationMember& pm : members) {
      auto m = std::make_unique<Member>();
      m->model = initialised_model(d, classes, config);
      m->model->train();
      m->lr = pm.lr;
      members_.push_back(std::move(m));
    }
    stack(members, total_steps);
  }

  int64_t size() const { return stacked_.k; }
  Member& member(size_t k) { return *members_[k]; }

  torch::Tensor epoch_order() {
    return torch::randperm(d_.train_images.size(0), data_gen_, torch::TensorOptions().dtype(torch::kInt64))
        .to(config_.device);
  }

  // One step of every live child on the images at `index`; returns each child's batch loss [K] (on the device).
  torch::Tensor step(const torch::Tensor& index, const torch::Tensor& live_index) {
    torch::Tensor images = d_.normalise(d_.train_images.index_select(0, index));
    if (config_.augment) images = augment_batch(images, data_gen_);
    const torch::Tensor logits = members_[0]->model->forward_stacked(images, stacked_);  // [K, N, classes]
    const int64_t k = logits.size(0), n = logits.size(1);
    const torch::Tensor labels = d_.train_labels.index_select(0, index);
    const torch::Tensor losses = torch::nn::functional::cross_entropy(
                                     logits.reshape({k * n, -1}), labels.repeat({k}),
                                     torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
                                     .view({k, n})
                                     .mean(1);
    for (torch::Tensor& t : leaves_) t.mutable_grad() = torch::Tensor();
    losses.index_select(0, live_index).sum().backward();
    for (size_t c = 0; c < members_.size(); ++c) {
      Member& m = *members_[c];
      if (!m.live) continue;
      for (size_t j = 0; j < m.params.size(); ++j) m.params[j].mutable_grad() = leaves_[j].grad()[c];
      m.optimizer->step(m.params, config_.recipe, step_);
    }
    ++step_;
    return losses.detach();
  }

  // Each child's accuracy on uint8 `images` [K] (NaN for an empty set), in inference mode.
  std::vector<double> accuracies(const torch::Tensor& images, const torch::Tensor& labels, int64_t batch_size) {
    const int64_t n = images.size(0);
    if (n == 0) return std::vector<double>(members_.size(), kNaN);
    c10::InferenceMode inference;
    stacked_.training = false;
    torch::Tensor correct = torch::zeros({stacked_.k}, labels.options());
    for (int64_t start = 0; start < n; start += batch_size) {
      const int64_t b = std::min(batch_size, n - start);
      const torch::Tensor logits = members_[0]->model->forward_stacked(d_.normalise(images.narrow(0, start, b)),
                                                                       stacked_);
      correct.add_(logits.argmax(2).eq(labels.narrow(0, start, b).unsqueeze(0)).sum(1));
    }
    stacked_.training = true;
    const torch::Tensor c = correct.cpu();
    std::vector<double> out;
    for (int64_t k = 0; k < stacked_.k; ++k) {
      out.push_back(static_cast<double>(c[k].item<int64_t>()) / static_cast<double>(n));
    }
    return out;
  }

 private:
  // Stacks every parameter and buffer of the members' models ([K, ...]), makes each member's tensors views of its
  // slices, and builds each member's optimizer on them.
  void stack(const std::vector<PopulationMember>& members, int64_t total_steps) {
    torch::NoGradGuard no_grad;
    for (const auto& item : members_[0]->model->named_parameters()) names_.push_back(item.key());
    for (const std::string& name : names_) {
      std::vector<torch::Tensor> slices;
      for (auto& m : members_) slices.push_back(m->model->named_parameters()[name].contiguous());
      torch::Tensor t = torch::stack(slices).requires_grad_(true);
      leaves_.push_back(t);
      stacked_.tensors[name] = t;
    }
    for (const auto& item : members_[0]->model->named_buffers()) {
      std::vector<torch::Tensor> slices;
      for (auto& m : members_) slices.push_back(m->model->named_buffers()[item.key()].contiguous());
      stacked_.tensors[item.key()] = torch::stack(slices);
    }
    const int64_t per_epoch = steps_per_epoch(d_.train_images.size(0), config_.batch_size);
    for (size_t c = 0; c < members_.size(); ++c) {
      Member& m = *members_[c];
      for (size_t j = 0; j < names_.size(); ++j) {
        torch::Tensor p = m.model->named_parameters()[names_[j]];
        p.set_data(leaves_[j].detach()[static_cast<int64_t>(c)]);
        m.params.push_back(p);
      }
      for (auto& item : m.model->named_buffers()) {
        item.value().set_data(stacked_.tensors[item.key()][static_cast<int64_t>(c)]);
      }
      m.optimizer = std::make_unique<RunOptimizer>(*members[c].rule, *m.model, config_, m.lr, total_steps, per_epoch);
    }
  }

  const DeviceData& d_;
  const TrainConfig& config_;
  at::Generator data_gen_;
  std::vector<std::unique_ptr<Member>> members_;
  std::vector<std::string> names_;
  std::vector<torch::Tensor> leaves_;  // the stacked parameters, in names_ order
  StackedTensors stacked_;
  int64_t step_ = 0;
};

void check_members(const std::vector<PopulationMember>& members, const TrainConfig& config) {
  if (members.empty()) throw UserError("training configuration: a population needs at least one child");
  for (const PopulationMember& m : members) {
    NOS_CHECK(m.rule != nullptr, "population member without a rule");
    if (!(m.lr > 0) || !std::isfinite(m.lr)) {
      throw UserError("training configuration: each child of a population needs a fixed lr > 0, got " +
                      number_text(m.lr));
    }
  }
  check_population_model(config.model, "training configuration: ");
}

}  // namespace

bool has_population_form(const std::string& model) {
  // Asked once per queued job by a population pool: the answer of each model is kept (building one costs
  // milliseconds).
  static std::mutex mutex;
  static std::map<std::string, bool> known;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = known.find(model);
  if (found != known.end()) return found->second;
  const bool stacked = find_model(model) != nullptr && make_model(model, 1, 32, 32, 10)->has_stacked_forward();
  known.emplace(model, stacked);
  return stacked;
}

void check_population_model(const std::string& model, const std::string& where) {
  if (has_population_form(model)) return;
  std::vector<std::string> stacked;
  for (const ModelInfo& m : models()) {
    if (has_population_form(std::string(m.example))) stacked.emplace_back(m.example);
  }
  throw UserError(where + "model '" + model + "' has no stacked form (populations: " + joined(stacked) + ")");
}

namespace {

void stop(Member& m, Status status, const std::string& message) {
  m.live = false;
  m.result.status = status;
  m.result.message = message;
}

// Judges a child's mean loss read back, as the solo run does: false (and the child stopped) on divergence.
bool loss_ok(Member& m, double mean_loss) {
  if (!m.guard.has_bound()) m.guard.set_first_loss(m.first_loss);
  const std::string diverged = m.guard.judge(mean_loss, m.result.steps_done);
  if (diverged.empty()) return true;
  stop(m, Status::kDiverged, diverged);
  return false;
}

// The children still training, as indices on the device (the loss sums only theirs).
torch::Tensor live_index(Population& pop, torch::Device device) {
  std::vector<int64_t> live;
  for (int64_t c = 0; c < pop.size(); ++c) {
    if (pop.member(c).live) live.push_back(c);
  }
  return torch::tensor(live, torch::TensorOptions().dtype(torch::kInt64)).to(device);
}

// Past the population's time limit every child still training stops with status timeout ("… reached `where`").
bool time_up(Population& pop, const TrainConfig& config, Clock::time_point start, const std::string& where) {
  if (!(config.time_limit_seconds > 0) || seconds_since(start) <= config.time_limit_seconds) return false;
  for (int64_t c = 0; c < pop.size(); ++c) {
    Member& m = pop.member(c);
    if (m.live) {
      stop(m, Status::kTimeout,
           time_limit_message(config.time_limit_seconds,
                              where + (where == "at step" ? " " + std::to_string(m.result.steps_done) : ""), true));
    }
  }
  return true;
}

// One epoch's steps of the live children, with the solo run's checks every check_every steps and the time limit;
// returns each child's loss sum over the epoch [K] on the CPU.
torch::Tensor train_epoch(Population& pop, const TrainConfig& config, const torch::Tensor& order, int64_t epoch_steps,
                          int64_t batch, bool first_epoch, Clock::time_point start, torch::Tensor& live) {
  const int64_t k = pop.size();
  torch::Tensor loss_sum = torch::zeros({k}, torch::TensorOptions().dtype(torch::kFloat64).device(config.device));
  for (int64_t c = 0; c < k; ++c) {
    pop.member(c).reported_sum = 0;
    pop.member(c).reported_steps = 0;
  }
  for (int64_t s = 0; s < epoch_steps && live.numel() > 0; ++s) {
    const torch::Tensor losses = pop.step(order.narrow(0, s * batch, batch), live).to(torch::kFloat64);
    loss_sum.add_(losses);
    const torch::Tensor first_losses = first_epoch && s == 0 ? losses.cpu() : torch::Tensor();
    const bool check = (s + 1) % config.check_every == 0 && s + 1 < epoch_steps;
    const torch::Tensor sums = check ? loss_sum.cpu() : torch::Tensor();
    bool changed = false;
    for (int64_t c = 0; c < k; ++c) {
      Member& m = pop.member(c);
      if (!m.live) continue;
      if (first_losses.defined()) m.first_loss = first_losses[c].item<double>();
      ++m.result.steps_done;
      if (!check) continue;
      const double sum = sums[c].item<double>();
      const double window = (sum - m.reported_sum) / static_cast<double>(s + 1 - m.reported_steps);
      m.reported_sum = sum;
      m.reported_steps = s + 1;
      changed = !loss_ok(m, window) || changed;
    }
    if (check && time_up(pop, config, start, "at step")) changed = true;
    if (changed) live = live_index(pop, config.device);
  }
  return loss_sum.cpu();
}

// The end of a whole epoch for the children still training: its metrics (validation and test accuracy of all of
// them at once) and, at the first epoch's end, the hurdle.
void end_epoch(Population& pop, const DeviceData& d, const TrainConfig& config, int64_t epoch, int64_t steps_now,
               int64_t total, int64_t trial_steps, const torch::Tensor& sums, int64_t epoch_steps,
               Clock::time_point epoch_start) {
  const int64_t k = pop.size();
  const bool last = steps_now == total;
  const int64_t eval_batch = config.eval_batch_size > 0 ? config.eval_batch_size : config.batch_size;
  const std::vector<double> val = pop.accuracies(d.val_images, d.val_labels, eval_batch);
  const bool measure_test = config.measure_test && (config.test_every_epoch || last);
  const std::vector<double> test = measure_test ? pop.accuracies(d.test_images, d.test_labels, eval_batch)
                                                : std::vector<double>(static_cast<size_t>(k), kNaN);
  const double seconds = seconds_since(epoch_start);  // evaluation included, as a solo run's
  for (int64_t c = 0; c < k; ++c) {
    Member& m = pop.member(c);
    if (!m.live) continue;
    EpochMetrics e;
    e.epoch = epoch;
    e.steps = steps_now;
    e.train_loss = sums[c].item<double>() / static_cast<double>(epoch_steps);
    e.val_acc = val[c];
    e.test_acc = test[c];
    e.seconds = seconds / static_cast<double>(k);
    e.lr = m.lr;
    m.result.epochs.push_back(e);
    if (steps_now != trial_steps || m.grid_run >= 0) continue;
    // A fixed lr's hurdle point: the end of the first epoch (or of the run, if shorter).
    m.result.hurdle_acc = e.val_acc;
    if (stops_at_hurdle(config, m.result.hurdle_acc, trial_steps, total)) {
      stop(m, Status::kHurdle, hurdle_message(config, m.result.hurdle_acc, hurdle_point(false, false, trial_steps)));
    }
  }
}

// The trial's end of the grid runs (the first epoch, or the budget if shorter): in each, the lane with the best
// validation accuracy (choose_lr) trains on and the others stop, as the solo protocol continues only the winning
// trial; the winner's accuracy there is its hurdle accuracy ("after N steps", as the full grid's hurdle point).
void select_lanes(Population& pop, const TrainConfig& config, int64_t total, int64_t trial_steps) {
  std::map<int, std::vector<int64_t>> runs;
  for (int64_t c = 0; c < pop.size(); ++c) {
    if (pop.member(c).grid_run >= 0) runs[pop.member(c).grid_run].push_back(c);
  }
  for (const auto& [run, lanes] : runs) {
    std::vector<LrTrial> trials;
    for (int64_t c : lanes) {
      Member& m = pop.member(c);
      m.at_trial = m.live;
      trials.push_back({m.lr, m.live ? Status::kOk : m.result.status, m.live ? m.result.epochs.back().val_acc : 0.0});
    }
    const double chosen = choose_lr(trials);
    bool kept = false;
    for (int64_t c : lanes) {
      Member& m = pop.member(c);
      if (!m.live) continue;
      if (kept || m.lr != chosen) {
        stop(m, Status::kUnchosen, "");
        continue;
      }
      kept = true;
      m.result.hurdle_acc = m.result.epochs.back().val_acc;
      if (stops_at_hurdle(config, m.result.hurdle_acc, trial_steps, total)) {
        stop(m, Status::kHurdle, hurdle_message(config, m.result.hurdle_acc, hurdle_point(true, false, trial_steps)));
      }
    }
  }
}

// What each child's run comes to (as train_classifier's fixed-lr path fills it).
std::vector<TrainResult> results_of(Population& pop, double seconds) {
  std::vector<TrainResult> results;
  for (int64_t c = 0; c < pop.size(); ++c) {
    TrainResult r = pop.member(c).result;
    if (r.status == Status::kHurdle) {
      r.val_acc = r.hurdle_acc;
      r.test_acc = kNaN;
      r.reward = r.hurdle_acc;
    } else {
      r.val_acc = r.epochs.empty() ? kNaN : r.epochs.back().val_acc;
      r.test_acc = r.epochs.empty() ? kNaN : r.epochs.back().test_acc;
      r.reward = reward_of(r.status, r.val_acc, r.hurdle_acc);
    }
    r.seconds = seconds / static_cast<double>(pop.size());
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace

namespace {

// The population's training: every lane (grid_runs[c] >= 0: a lane of that grid run; -1: a fixed-lr child) to its
// end; returns each lane's run as results_of gives it, its trial facts in `trial` (at_trial, trial_loss).
std::vector<TrainResult> train_lanes(const std::vector<PopulationMember>& members, const std::vector<int>& grid_runs,
                                     const DataSplits& data, const TrainConfig& config,
                                     std::vector<std::pair<bool, double>>& trial, double& seconds) {
  TrainConfig checked = config;
  checked.lr = members.empty() ? 1.0 : members.front().lr;
  check_training_config(data, checked);
  check_members(members, config);
  const Clock::time_point start = Clock::now();
  const DeviceData d = to_device(data, config);
  const int64_t n = data.train.size();
  const int64_t per_epoch = steps_per_epoch(n, config.batch_size);
  const int64_t total = config.steps > 0 ? config.steps : config.epochs * per_epoch;
  const int64_t horizon = config.horizon_epochs > 0 ? std::max(total, config.horizon_epochs * per_epoch) : total;
  const int64_t trial_steps = std::min(per_epoch, total);
  check_recipe(config.recipe, horizon, per_epoch);
  Population pop(members, d, data.num_classes, config, horizon);
  for (int64_t c = 0; c < pop.size(); ++c) {
    TrainResult& r = pop.member(c).result;
    pop.member(c).grid_run = grid_runs[static_cast<size_t>(c)];
    r.lr = members[c].lr;
    r.total_steps = total;
    r.steps_per_epoch = per_epoch;
  }
  const int64_t batch = std::min(config.batch_size, n);
  torch::Tensor live = live_index(pop, config.device);
  for (int64_t epoch = 1; live.numel() > 0 && (epoch - 1) * per_epoch < total; ++epoch) {
    const Clock::time_point epoch_start = Clock::now();
    const int64_t epoch_steps = std::min(per_epoch, total - (epoch - 1) * per_epoch);
    const int64_t steps_now = (epoch - 1) * per_epoch + epoch_steps;
    const torch::Tensor sums =
        train_epoch(pop, config, pop.epoch_order(), epoch_steps, batch, epoch == 1, start, live);
    if (live.numel() == 0) break;
    for (int64_t c = 0; c < pop.size(); ++c) {
      Member& m = pop.member(c);
      if (!m.live) continue;
      const double mean = sums[c].item<double>() / static_cast<double>(epoch_steps);
      if (steps_now == trial_steps) m.trial_loss = mean;
      loss_ok(m, mean);
    }
    live = live_index(pop, config.device);
    if (live.numel() == 0) break;
    end_epoch(pop, d, config, epoch, steps_now, total, trial_steps, sums, epoch_steps, epoch_start);
    if (steps_now == trial_steps) select_lanes(pop, config, total, trial_steps);
    if (steps_now < total) time_up(pop, config, start, "after epoch " + std::to_string(epoch));
    live = live_index(pop, config.device);
  }
  seconds = seconds_since(start);
  trial.clear();
  for (int64_t c = 0; c < pop.size(); ++c) trial.emplace_back(pop.member(c).at_trial, pop.member(c).trial_loss);
  return results_of(pop, seconds);
}

// A grid run's result from its lanes' (in grid order), as train_classifier's full grid fills it.
TrainResult grid_result(const std::vector<TrainResult>& lanes, const std::vector<std::pair<bool, double>>& trial,
                        double seconds) {
  TrainResult r;
  r.total_steps = lanes.front().total_steps;
  r.steps_per_epoch = lanes.front().steps_per_epoch;
  const int64_t trial_steps = std::min(r.steps_per_epoch, r.total_steps);
  std::vector<LrTrial> trials;
  std::string timeout;
  for (size_t i = 0; i < lanes.size(); ++i) {
    const TrainResult& lane = lanes[i];
    GridTrial t;
    t.lr = lane.lr;
    t.status = trial[i].first ? Status::kOk : lane.status;
    t.steps = trial[i].first ? trial_steps : lane.steps_done;
    t.train_loss = trial[i].second;
    t.val_acc = trial[i].first ? lane.epochs.front().val_acc : 0.0;
    t.seconds = seconds / static_cast<double>(lanes.size());
    if (t.status == Status::kTimeout && timeout.empty()) timeout = lane.message;
    r.grid.push_back(t);
    trials.push_back({t.lr, t.status, t.val_acc});
  }
  const double chosen = choose_lr(trials);
  for (size_t i = 0; i < lanes.size() && !std::isnan(chosen); ++i) {
    if (!trial[i].first || lanes[i].lr != chosen) continue;
    std::vector<GridTrial> grid = std::move(r.grid);
    r = lanes[i];
    r.grid = std::move(grid);
    r.hurdle_acc = r.epochs.front().val_acc;
    r.seconds = seconds;
    return r;
  }
  r.lr = chosen;
  r.val_acc = r.test_acc = kNaN;
  r.reward = 0;
  r.seconds = seconds;
  const GridFailure failed = grid_failure(timeout);
  r.status = failed.status;
  r.message = failed.message;
  return r;
}

}  // namespace

std::vector<TrainResult> train_population(const std::vector<PopulationMember>& members, const DataSplits& data,
                                          const TrainConfig& config) {
  std::vector<std::pair<bool, double>> trial;
  double seconds = 0;
  return train_lanes(members, std::vector<int>(members.size(), -1), data, config, trial, seconds);
}

int64_t population_lanes(const PopulationRun& run) {
  return run.lr > 0 ? 1 : static_cast<int64_t>(run.lr_grid.size());
}

std::vector<TrainResult> train_population_runs(const std::vector<PopulationRun>& runs, const DataSplits& data,
                                               const TrainConfig& config) {
  std::vector<PopulationMember> members;
  std::vector<int> grid_runs;
  for (size_t i = 0; i < runs.size(); ++i) {
    const PopulationRun& run = runs[i];
    if (!(run.lr >= 0) || !std::isfinite(run.lr) || (run.lr == 0 && run.lr_grid.empty())) {
      throw UserError("training configuration: each run of a population needs an lr > 0 or an lr grid, got lr " +
                      number_text(run.lr));
    }
    if (run.lr == 0 && config.lr_search != "full") {
      throw UserError("training configuration: a population trains the full lr grid (lr_search full), not '" +
                      config.lr_search + "'");
    }
    for (double lr : run.lr > 0 ? std::vector<double>{run.lr} : run.lr_grid) {
      members.push_back({run.rule, lr});
      grid_runs.push_back(run.lr > 0 ? -1 : static_cast<int>(i));
    }
  }
  std::vector<std::pair<bool, double>> trial;
  double seconds = 0;
  const std::vector<TrainResult> lanes = train_lanes(members, grid_runs, data, config, trial, seconds);
  std::vector<TrainResult> results;
  size_t at = 0;
  for (const PopulationRun& run : runs) {
    const size_t n = static_cast<size_t>(population_lanes(run));
    const double share = seconds * static_cast<double>(n) / static_cast<double>(lanes.size());
    if (run.lr > 0) {
      results.push_back(lanes[at]);
      results.back().seconds = share;
    } else {
      results.push_back(grid_result(std::vector<TrainResult>(lanes.begin() + at, lanes.begin() + at + n),
                                    std::vector<std::pair<bool, double>>(trial.begin() + at, trial.begin() + at + n),
                                    share));
    }
    at += n;
  }
  return results;
}

PopulationChoice measure_population_choice(const std::string& dataset, const TrainConfig& config, int64_t max_k,
                                           int64_t steps) {
  const DataSplits data = synthetic_data(dataset, 8 * config.batch_size);
  const optimizers::ResolvedRule adam = optimizers::resolve_rule("adam");
  TrainConfig c = config;
  c.lr = 1e-3;
  PopulationChoice choice;
  const Throughput solo = measure_training_throughput(adam, data, c, 2, steps);
  double best = static_cast<double>(solo.steps) / solo.seconds;
  choice.rates.emplace_back(1, best);
  for (int64_t k = 2; k <= max_k; k *= 2) {
    Throughput t;
    try {
      t = measure_population_throughput(std::vector<PopulationMember>(static_cast<size_t>(k), {&adam, c.lr}), data, c,
                                        2, steps);
    } catch (const c10::Error& e) {
      const std::string what = e.what_without_backtrace();
      choice.stopped = "K = " + std::to_string(k) + ": " + what.substr(0, what.find('\n'));
      break;
    }
    const double rate = static_cast<double>(k * t.steps) / t.seconds;
    choice.rates.emplace_back(k, rate);
    if (rate > best) {
      best = rate;
      choice.k = k;
    }
  }
  return choice;
}

int default_population(const std::string& model, const std::string& device) {
  if (!has_population_form(model)) return 1;
  if (device != "cpu") return 16;
  return model == "logreg" || model == "mlp20" ? 16 : 1;
}

Throughput measure_population_throughput(const std::vector<PopulationMember>& members, const DataSplits& data,
                                         const TrainConfig& config, int64_t warmup, int64_t steps) {
  TrainConfig checked = config;
  checked.lr = members.empty() ? 1.0 : members.front().lr;
  check_training_config(data, checked);
  check_members(members, config);
  if (warmup < 0 || steps < 1) throw UserError("training configuration: the benchmark needs steps >= 1");
  const DeviceData d = to_device(data, config);
  Population pop(members, d, data.num_classes, config, warmup + steps);
  const int64_t n = data.train.size();
  const int64_t per_epoch = steps_per_epoch(n, config.batch_size);
  const int64_t batch = std::min(config.batch_size, n);
  std::vector<int64_t> all(static_cast<size_t>(pop.size()));
  for (size_t c = 0; c < all.size(); ++c) all[c] = static_cast<int64_t>(c);
  const torch::Tensor live = torch::tensor(all, torch::TensorOptions().dtype(torch::kInt64)).to(config.device);
  const auto sum_options = torch::TensorOptions().dtype(torch::kFloat64).device(config.device);
  torch::Tensor loss_sum = torch::zeros({pop.size()}, sum_options);
  torch::Tensor order;
  Clock::time_point start = Clock::now();
  std::clock_t cpu_start = std::clock();
  for (int64_t i = 0; i < warmup + steps; ++i) {
    if (i == warmup) {
      loss_sum.sum().item<double>();  // waits for the warm-up steps (a GPU runs ahead of the host)
      start = Clock::now();
      cpu_start = std::clock();
    }
    if (i % per_epoch == 0) order = pop.epoch_order();
    loss_sum.add_(pop.step(order.narrow(0, (i % per_epoch) * batch, batch), live).to(torch::kFloat64));
  }
  loss_sum.sum().item<double>();
  Throughput t;
  t.steps = steps;
  t.seconds = seconds_since(start);
  t.cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  t.samples_per_second = static_cast<double>(steps * batch * pop.size()) / t.seconds;
  return t;
}

}  // namespace nos::tasks
