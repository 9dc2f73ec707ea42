// The evaluator interface (a rule on a task with a budget → a reward record) and its in-process implementation.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tasks/datasets.h"
#include "tasks/settings.h"
#include "tasks/trainer.h"

namespace nos::tasks {

// A task name resolved: an analytic objective ("rosenbrock") or `<dataset>-<model>` ("fmnist-convnet").
struct TaskSpec {
  std::string name;
  bool analytic = false;
  std::string dataset;  // "fmnist" or "cifar10" (empty for analytic tasks)
  std::string model;    // a make_model name (empty for analytic tasks)
};

// The data sets a task may name: the names of the datasets() rows, in documentation order.
std::vector<std::string> dataset_names();

// Example task names for help texts: the objectives, then <dataset>-<model> for every data set and model row (a
// family by its example).
std::vector<std::string> task_names();

// Resolves `name`; throws nos::UserError naming the known objectives, data sets and models when it is none of them.
TaskSpec parse_task_name(std::string_view name);

// One evaluation to run: the rule, its training settings (settings.h: the task, budget, lr protocol, recipe,
// seed, device, data and time limit) and what only a single run takes. Plain data (it travels between machines; the
// worker protocol writes the settings through their field table), no pointers. The settings' defaults here: a
// 5-epoch budget, the full grid, test accuracy measured.
struct EvalRequest : TrainingSettings {
  EvalRequest() {
    task.clear();
    epochs = 5;
  }
  std::string rule;            // a named rule or DSL text
  int64_t horizon_epochs = 0;  // image tasks: TrainConfig::horizon_epochs (T of a longer run this one starts)
  double hurdle = 0;           // image tasks: TrainConfig::hurdle (0: none)
  bool test_every_epoch = true;
};

// The outcome of one evaluation: what a store records. Misbehaving rules are statuses, never exceptions.
struct EvalRecord {
  std::string rule;          // as requested
  std::string canonical;     // the rule's canonical text (empty when invalid)
  std::string task;
  // "ok", "diverged", "timeout", "hurdle" (stopped at the hurdle: TrainConfig::hurdle) or "invalid" (the rule
  // does not parse or cannot run)
  Status status = Status::kOk;
  std::string message;       // why, for a status other than ok
  // image tasks: final validation accuracy (hurdle: the accuracy at the hurdle); analytic: 1/(1 + f(x_T) − f*);
  // 0 unless ok or hurdle
  double reward = 0;
  double hurdle_acc = std::numeric_limits<double>::quiet_NaN();  // image tasks: TrainResult::hurdle_acc
  double val_acc = 0;        // NaN for analytic tasks
  double test_acc = 0;
  double lr = 0;             // the lr used for the final run
  int64_t total_steps = 0;   // T of the final run
  int64_t steps_done = 0;
  int64_t steps_per_epoch = 0;
  uint64_t seed = 0;
  std::vector<GridTrial> grid;
  std::vector<EpochMetrics> epochs;
  double final_loss = 0;     // analytic tasks: f(x_T); image tasks: the last epoch's mean training loss
  double seconds = 0;
  std::string data;          // provenance of the data set (image tasks)
};

// Turns a rule into a reward on a task with a budget. Implementations keep no state that changes the result: the
// same request gives the same record (timings aside).
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  virtual EvalRecord evaluate(const EvalRequest& request) = 0;
  // Several requests, one record each in order, each what evaluate() gives for it (timings aside). This one
  // evaluates them one after the other; LocalEvaluator trains requests of one population_key as one population.
  virtual std::vector<EvalRecord> evaluate_population(const std::vector<EvalRequest>& requests);
};

// What requests must share to train as one population (tasks/population.h): every setting but the rule, the lr and
// the lr grid; "" when `request` cannot join one (an analytic task, a model without a stacked form, a
// successive-halving lr search).
std::string population_key(const EvalRequest& request);

// `population: auto` on a device other than the CPU, measured where the children will train (dispatch/ asks a
// worker, which owns the device): tasks::measure_population_choice for `request`'s task, batch size, device and
// dtype (K up to 64, 10 timed steps each). `report` gets the rates as one line ("children-steps/s: K=1 … K=8 …;
// stopped at …"). Throws what the measurement throws (an unknown task, no such device).
int measure_population_size(const EvalRequest& request, std::string& report);

// Why `request` cannot join a population, for a user who asked for one ("" when it can): "rosenbrock is an analytic
// task …", "model 'x' has no stacked form (populations: …)" or the successive-halving lr search. An unknown task is
// a UserError.
std::string population_alone_reason(const EvalRequest& request);

// The trainer's configuration of an image task's request (its model, budget, lr protocol, recipe, seed, device,
// dtype: bfloat16 is float32 with bfloat16 autocast, augmentation, test passes, time limit). A UserError for
// augmentation of a data set without one, or an unknown device or dtype.
TrainConfig train_config(const EvalRequest& request, const TaskSpec& task);

// Loads a data set: the seam tests use to train on tiny in-memory data.
using DataLoaderFn = std::function<DataSplits(const std::string& dataset, const DataOptions& options)>;

struct LocalEvaluatorOptions {
  std::map<std::string, std::string> data_dirs;  // per data set ("fmnist" → dir); absent: load_dataset's default
  std::string cache_dir;                         // decoded-JPEG caches
  int threads = 0;                               // > 0: at::set_num_threads before each evaluation
  DataLoaderFn loader;                           // empty: load_dataset
  TrainProgressCallback progress;                // optional progress display
  // Fault injection for tests (empty in every command): called with the rules about to train, alone or as one
  // population, inside the evaluator's handling of LibTorch's errors; a c10::Error it throws stands for LibTorch
  // failing to run them (a rule it cannot execute: NVRTC refusing a kernel on a GPU).
  std::function<void(const std::vector<const optimizers::ResolvedRule*>&)> before_training;
};

// Evaluates in this process. Data sets are loaded once per (data set, sizes, seed) and shared read-only by later
// evaluations. Bad requests (unknown task, bad budget, unavailable device, missing data) throw nos::UserError; a
// rule that does not parse or that misbehaves gives a record with status invalid, diverged or timeout.
class LocalEvaluator : public Evaluator {
 public:
  explicit LocalEvaluator(LocalEvaluatorOptions options = {});
  EvalRecord evaluate(const EvalRequest& request) override;
  // Requests of one non-empty population_key train as one population (tasks::train_population_runs): each record
  // is its solo evaluation's (timings aside: seconds is the request's share of the population's wall time); the
  // population's time limit is the sum of the requests' (each request's limit is its child's). Any other
  // mix is evaluated request by request; a population LibTorch cannot run (out of memory, a rule it cannot execute)
  // is split in halves, each evaluated so, down to single requests.
  std::vector<EvalRecord> evaluate_population(const std::vector<EvalRequest>& requests) override;

  // The splits for `dataset` with the request's sizes, loaded on first use.
  std::shared_ptr<const DataSplits> data(const std::string& dataset, const EvalRequest& request);

 private:
  LocalEvaluatorOptions options_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const DataSplits>> cache_;
};

}  // namespace nos::tasks
