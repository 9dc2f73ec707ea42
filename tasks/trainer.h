// Training a classifier child with a rule: budget, lr grid protocol, divergence as a result, per-epoch metrics.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "optimizers/optimizers.h"
#include "tasks/datasets.h"
#include "tasks/models.h"
#include "tasks/recipe.h"
#include "tasks/status.h"

namespace nos::tasks {

// The learning rates of the paper's protocol as reimplemented: 1e-5, 1e-4, ..., 1 (one per decade).
std::vector<double> default_lr_grid();

// The budget and numerics of one child. Plain data: the CLI fills it from flags and config, tests construct it.
struct TrainConfig {
  std::string model = "convnet";  // a name make_model knows
  int64_t epochs = 5;             // the budget in epochs, used when steps == 0
  int64_t steps = 0;              // > 0: the budget in optimizer steps instead of epochs
  int64_t batch_size = 128;
  // > 0: train at this lr. 0: the paper's protocol: one epoch (or the whole budget, if shorter) at each lr of
  // lr_grid from the same initialisation, keep the lr with the best validation accuracy, train the full budget
  // from a fresh initialisation. (The winning trial is that run's first epoch bit for bit, so the full run goes on
  // from it rather than computing it again.)
  double lr = 0;
  // > 0: this run stands for the first part of a run of horizon_epochs epochs (a tuning run of nos compare with a
  // schedule): T, for the rule's decay operands and the schedule, is that run's step count, and training stops at
  // this run's own budget, so the run follows the longer run's schedule, truncated. 0: T is this run's budget.
  int64_t horizon_epochs = 0;
  std::vector<double> lr_grid = default_lr_grid();
  // How the grid protocol chooses: "full" (every lr of the grid trains one trial: the paper's protocol) or
  // "halving" (successive halving, kHalvingFirstRung: every lr trains a quarter of the trial, the better half
  // (rounded up) goes on to half of it, and so on, doubling, until one lr is left or the survivors have trained the
  // whole trial and the best of them is chosen). Each survivor continues its own run, and the chosen lr's run is
  // continued into the full run, so the result is bit for bit that of a fixed-lr run at the chosen lr.
  std::string lr_search = "full";
  // The training recipe (tasks/recipe.h). Its schedule: the lr of step t is the run's peak lr (given, or chosen by
  // the grid) times the schedule's factor at t, over the full run's steps (T, as the decay operands count them); a
  // grid trial follows the full run's schedule, truncated. Its weight decay: see parameter_groups. Its clipping: of
  // the loss's gradients, before the optimizer adds a coupled decay and before the rule sees them. The default:
  // constant lr, the rule's and model's own decay, no clipping.
  Recipe recipe;
  // Halving rungs inside an epoch compare the lrs on the first this many images of the validation split (a seeded
  // random subset; 0: all of it): an evaluation of 2,000 images costs as much as 17 training steps of the ConvNet,
  // more than a rung's steps on a small proxy. Rungs at an epoch's end use the epoch's full evaluation.
  int64_t rung_validation_size = 512;
  // > 0: the hurdle. At the hurdle point (after the first halving rung; after the full grid's trials; after the
  // first epoch at a fixed lr) the run's best validation accuracy so far (TrainResult::hurdle_acc) is compared with
  // it, and a run below it stops there with status "hurdle" and reward = that accuracy.
  double hurdle = 0;
  uint64_t seed = 0;  // initialisation, batch order, augmentation and the rule's noise
  torch::Device device = torch::kCPU;
  torch::Dtype dtype = torch::kFloat32;
  // Mixed precision (dtype float32 only): every forward pass of the network (training and evaluation) runs under
  // LibTorch's autocast to bfloat16 (convolutions and matrix products in bfloat16, the rest in float32); the
  // weights, gradients, optimizer state and loss stay float32. Autocast state is per thread: children training in
  // other threads of the process are unaffected.
  bool bfloat16_autocast = false;
  bool augment = false;           // random crop (pad 4) and horizontal flip of each training batch
  bool channels_last = true;      // NHWC activations and weights for convolutional models (faster with oneDNN)
  bool fused_kernel = true;       // the rule's fused kernel (dsl/fused.h, CPU or CUDA); false: the torch-op path
  bool test_every_epoch = true;   // false: test accuracy only after the last epoch (saves a pass per epoch)
  bool measure_test = true;       // false: no test pass at all (test accuracy NaN): a search's reward needs none
  // Batch size of validation and test passes; 0: batch_size. Large batches gain little on the CPU and their
  // activations outgrow the allocator's reuse threshold (see cli/main.cpp).
  int64_t eval_batch_size = 0;
  // The loss is read back every this many steps to check for divergence (and otherwise once per epoch).
  int64_t check_every = 50;
  // > 0: wall-clock limit of the whole run (grid included); past it the run stops with status "timeout".
  double time_limit_seconds = 0;
};

// One epoch of a run (the last may be partial when the budget is in steps).
struct EpochMetrics {
  int64_t epoch = 0;         // 1-based
  int64_t steps = 0;         // optimizer steps done by the end of this epoch, in total
  double train_loss = 0;     // mean training loss over the epoch's batches (without the L2 penalty)
  double val_acc = 0;
  double test_acc = 0;       // NaN when not measured this epoch (test_every_epoch false)
  double seconds = 0;        // wall time of the epoch, evaluation included
  double lr = 0;
};

// The lr searches TrainConfig::lr_search takes, in documentation order.
std::vector<std::string> lr_search_names();

// Successive halving's first rung, as a fraction of the trial budget (one epoch, or the run if shorter); each later
// rung doubles it.
inline constexpr double kHalvingFirstRung = 0.25;

// One learning rate tried by the grid protocol.
struct GridTrial {
  double lr = 0;
  // ok, diverged or timeout; halved when successive halving dropped it (after `steps` steps, at `val_acc`)
  Status status = Status::kOk;
  int64_t steps = 0;
  double train_loss = 0;     // mean over the steps of its last (possibly partial) epoch
  double val_acc = 0;        // 0 when diverged
  double seconds = 0;
};

struct TrainResult {
  // "ok", "diverged" (loss non-finite or far above its start), "timeout" or "hurdle" (stopped at the hurdle)
  Status status = Status::kOk;
  std::string message;        // what happened, for a status other than ok
  // The final validation accuracy (Bello et al. 2017); for status hurdle, hurdle_acc; otherwise 0 unless ok
  double reward = 0;
  // The best validation accuracy at the hurdle point (see TrainConfig::hurdle), measured whether or not a hurdle
  // was set; NaN when the run did not get there. A search takes its hurdles from the earlier children's values.
  double hurdle_acc = std::numeric_limits<double>::quiet_NaN();
  double val_acc = 0;         // NaN when no epoch finished
  double test_acc = 0;
  double lr = 0;              // the lr of the full run (chosen by the grid, or given); NaN if the grid found none
  int64_t total_steps = 0;    // the full run's step budget: T for the rule's decays (unless horizon_epochs)
  int64_t steps_done = 0;     // steps of the full run actually done
  int64_t steps_per_epoch = 0;
  std::vector<GridTrial> grid;
  std::vector<EpochMetrics> epochs;
  double seconds = 0;         // wall time of everything (grid included)
};

// What a progress display needs; sent every check_every steps and at the end of every epoch.
struct TrainProgress {
  std::string phase;          // "lr grid 2/6" or "train"
  double lr = 0;
  int64_t epoch = 0;          // 1-based epoch of the current phase
  int64_t epochs = 0;
  int64_t step = 0;           // steps done in the current phase
  int64_t steps = 0;          // steps of the current phase
  double loss = 0;            // mean training loss since the last report
  double val_acc = -1;        // the last validation accuracy measured in this phase, or -1
  double elapsed_seconds = 0;
  double eta_seconds = 0;     // estimate for the whole run (remaining grid trials included)
  bool epoch_end = false;     // this report closes `epoch` (val_acc was just measured); else a check within it
};
using TrainProgressCallback = std::function<void(const TrainProgress&)>;

// Steps one epoch takes: the last partial batch is dropped (static shapes, no one-sample batch-norm batches),
// unless the training set is smaller than one batch, which then makes the only batch.
int64_t steps_per_epoch(int64_t train_size, int64_t batch_size);

// The optimizer's parameter groups for `model` under `options` (the rule's) and `recipe`, grouping parameters with
// equal decays, in model order. recipe.weight_decay unset: the weights the model's definition penalises (3c3d:
// every weight, at its L2 0.002; biases and batch-norm parameters not) at the model's L2, everything else at the
// rule's own coupled weight_decay, and every parameter at the rule's own decoupled λ. Set to λ: the rule's own
// decays are replaced: a parameter of the mask gets λ coupled or decoupled (weight_decay_mode), on top of the
// model's L2 where it has one (which stays coupled: it is part of the objective); others get the model's L2 only.
// A DSL rule reading `w` reads the weights after this step's decoupled shrink: its own w term is the rule's, never
// merged with this decay nor counted as it.
std::vector<optimizers::ParamGroup> parameter_groups(const ClassifierImpl& model,
                                                     const optimizers::RuleOptions& options, const Recipe& recipe);

// Builds `rule`'s training optimizer for `model` under `recipe` as a run would (on a small instance, no training), so
// that a combination no run can take fails before the first run starts instead of mid-run: a UserError naming the
// rule and the recipe's weight decay (e.g. torch-adamw with a coupled --weight-decay: LibTorch's AdamW has no coupled
// L2). An unknown model is make_model's UserError.
void check_rule_recipe(const optimizers::ResolvedRule& rule, const std::string& model, const Recipe& recipe);

// A warning for a combination that runs but is likely not what was meant ("" when none): a rule whose own weight
// decay is decoupled (adamw) given a recipe weight decay applied coupled runs as Adam with L2.
std::string rule_recipe_warning(const optimizers::ResolvedRule& rule, const Recipe& recipe);

// Trains config.model on `data` with `rule` and measures validation and test accuracy after every epoch. The
// optimizer gets the rule's default options with lr, seed and total_steps (T = the full run's step count, in the
// grid trials too, so a trial is the first epoch of the run it stands for) and the model's L2 penalty as weight
// decay. Deterministic on the CPU for a fixed seed and thread count. A child whose loss is non-finite or more than
// kLossBlowup times its first loss stops early with status "diverged" and reward 0; a misbehaving rule never
// throws. Throws nos::UserError only for a bad configuration (no training data, unknown model, lr grid empty).
// Uses no global state but at::set_num_threads' setting (left to the caller).
TrainResult train_classifier(const optimizers::ResolvedRule& rule, const DataSplits& data, const TrainConfig& config,
                             const TrainProgressCallback& progress = {});

// The speed of the training step alone: what train_classifier does per batch (gather, normalise, forward, loss,
// backward, rule step, loss accumulated on the device), without evaluation or divergence checks.
struct Throughput {
  int64_t steps = 0;
  double seconds = 0;              // wall time
  double cpu_seconds = 0;          // CPU time of the whole process (all threads): robust to other load at 1 thread
  double samples_per_second = 0;   // per wall second
};

// Times `steps` steps of config.model at config.lr (> 0) after `warmup` untimed ones, cycling through `data.train`.
Throughput measure_training_throughput(const optimizers::ResolvedRule& rule, const DataSplits& data,
                                       const TrainConfig& config, int64_t warmup, int64_t steps);

// A loss above kLossBlowup · max(1, first loss) counts as diverged (cross-entropy starts near ln 10 ≈ 2.3).
inline constexpr double kLossBlowup = 100.0;

}  // namespace nos::tasks
