// nos learn: meta-training the coordinatewise LSTM optimizer (optimizers/lstm_optimizer.h) by gradient descent
// through unrolled optimization (Andrychowicz et al. 2016), on a family of problems, with truncated BPTT,
// checkpoints that resume, meta-validation and the best network kept; then its evaluation against hand-designed
// optimizers, each at its best lr, on held-out instances.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "experiments/learn_family.h"
#include "optimizers/lstm_optimizer.h"

namespace nos::experiments {

// The settings of a meta-training run (configs/learn-quadratic.yaml). Plain data with the paper's values.
struct LearnConfig {
  std::string family = "quadratic";  // quadratic: ‖Wθ − y‖², W, y ~ N(0, 1); mlp: MLPs on Fashion-MNIST
  int64_t dims = 10;                 // θ's dimension (quadratic)
  std::string architecture = "sigmoid:20";  // the MLP trained on (mlp; learn_family.h's MlpArchitecture)
  int64_t minibatch = 128;                  // examples per optimizee step (mlp)
  std::string data_dir;                     // Fashion-MNIST folder (mlp; empty: Debian's dataset-fashion-mnist)
  std::vector<std::string> generalization;  // other architectures the evaluation also runs (mlp)
  // Where the validation instances (best.pt's choice, the baselines' lr) train (mlp): "train", 10,000 images held out
  // of the training split (the test split is read by the final evaluation only), or "test", the test split (how runs
  // made before this key validated; their config.yaml lacks the key and reads so).
  std::string validation_data = "train";
  int64_t horizon = 100;             // optimizee steps of an episode (and of the evaluation)
  int64_t unroll = 20;               // steps per truncated-BPTT segment: one meta-update each
  int64_t batch = 128;               // instances per episode
  int64_t episodes = 1000;           // meta-training episodes
  double meta_lr = 0.01;             // Adam on the LSTM's weights
  int64_t validate_every = 50;       // episodes between meta-validations (and checkpoints)
  int64_t validation_instances = 256;
  int64_t test_instances = 256;      // held-out instances of the evaluation
  std::vector<double> lr_grid = {1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1, 3, 10};  // the baselines' grid
  std::vector<std::string> baselines = {"adam", "rmsprop", "sgd", "nesterov"};
  uint64_t seed = 0;
  optimizers::LstmNetOptions net;
  std::string out;                   // the run folder (required)
};

const std::vector<std::string>& learn_config_keys();
// Reads YAML text onto a default LearnConfig; unknown keys and bad values are UserErrors naming source, line, key.
LearnConfig parse_learn_config(const std::string& yaml_text, const std::string& source);
LearnConfig load_learn_config(const std::string& path);
// A run folder's config.yaml: as parse_learn_config, but an mlp run recorded without validation_data validated on
// the test split and reads so.
LearnConfig parse_recorded_learn_config(const std::string& yaml_text, const std::string& source);
std::string to_yaml(const LearnConfig& config);

// One truncated segment of meta-training: `steps` LSTM steps from θ at step `first_step` (and the LSTM state), the
// optimizee's gradients treated as inputs (detached: the paper's first-order approximation). Returns the meta-loss
// (the mean over instances of the sum of the losses after each step, divided by steps), with θ and the state
// advanced (still attached to the graph; the caller detaches them between segments). `gradients`, when not null,
// receives each step's gradient; `given`, when not empty, is used instead of computing them (the finite-difference
// check).
torch::Tensor unrolled_loss(optimizers::LstmNet& net, const ProblemBatch& batch, torch::Tensor& theta,
                            optimizers::LstmCoordinateState& state, int64_t first_step, int64_t steps,
                            std::vector<torch::Tensor>* gradients = nullptr,
                            const std::vector<torch::Tensor>& given = {});

// The mean loss over the instances after each step 0 … horizon (index 0: before any step; step t's loss on step
// t's data) of the network, and the standard deviation over the instances.
struct LossCurve {
  std::vector<double> mean, sd;  // per step 0 … horizon: over the instances
  std::vector<std::vector<double>> values;  // per step 0 … horizon: each instance's loss (for medians, pairs)
  double final_sd() const { return sd.back(); }
  LossCurve first(int64_t steps) const;  // steps 0 … steps
  void add(const torch::Tensor& losses);  // the next step's loss per instance
};
LossCurve lstm_curve(optimizers::LstmNet& net, const ProblemBatch& batch, int64_t horizon);
// The same for a named rule at `lr` (nos's compiled rule, on all instances at once: each has its own gradient).
LossCurve rule_curve(const std::string& rule, double lr, const ProblemBatch& batch, int64_t horizon);

struct LearnProgress {
  int64_t episode = 0, episodes = 0;
  double meta_loss = 0;
  double val_loss = -1;     // the last meta-validation's mean loss over steps (-1: none yet)
  double best_val = -1;
  double seconds = 0, eta_seconds = 0;
};

struct LearnRuntime {
  const std::atomic<bool>* stop = nullptr;
  std::function<void(const LearnProgress&)> on_progress;
};

struct LearnResult {
  bool interrupted = false;
  int64_t episodes_done = 0;
  double best_val = 0;
  std::string best_path;  // RUN_DIR/best.pt
};

// Meta-trains into config.out: config.yaml (a rerun with another config is a UserError listing the keys),
// checkpoint.pt (network, meta-optimizer, episode; replaced atomically every validate_every episodes: a run killed
// at any moment resumes from it), best.pt (the network with the best meta-validation loss), progress.csv.
LearnResult learn(const LearnConfig& config, const LearnRuntime& runtime);

// Evaluates best.pt against config.baselines on config.test_instances held-out instances (each baseline at the lr
// of config.lr_grid with the lowest mean final loss on the validation instances), at the trained horizon and at
// twice it, and on each of config.generalization's architectures (mlp) at the trained horizon: writes
// evaluation.csv, loss_per_step.csv, loss_per_step_2x.csv, loss_per_step_<architecture>.csv, report.md and, with
// gnuplot, loss.png and generalization.png. Returns report.md.
std::string evaluate_learned(const LearnConfig& config);

}  // namespace nos::experiments
