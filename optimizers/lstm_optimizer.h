// A learned optimizer: the coordinatewise LSTM of Andrychowicz et al. 2016 ("Learning to learn by gradient descent
// by gradient descent"), as a network (LstmNet, trained by experiments/learn.h) and as a torch::optim::Optimizer
// (LstmOptimizer) that any training loop can run.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/rnn.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nos::optimizers {

// The network's shape and its fixed constants (the paper's values by default).
struct LstmNetOptions {
  int64_t hidden = 20;          // units per LSTM layer
  int64_t layers = 2;
  double preprocess_p = 10;     // the gradient preprocessing's p (paper, appendix A)
  double output_scale = 0.1;    // the update is output_scale times the network's output
};

// The paper's gradient preprocessing, per coordinate: (log|g|/p, sign(g)) when |g| >= e^-p, else (−1, e^p·g).
// g: any shape; returns [g.numel(), 2].
torch::Tensor preprocess_gradients(const torch::Tensor& g, double p);

// Hidden and cell states of every layer for a set of coordinates: each [layers, coordinates, hidden].
struct LstmCoordinateState {
  torch::Tensor h, c;
};

// Two-layer LSTM over the coordinates (a batch of 1-step sequences; one network shared by every coordinate) and a
// linear read-out: update = output_scale · out.
class LstmNetImpl : public torch::nn::Module {
 public:
  explicit LstmNetImpl(LstmNetOptions options = {});
  // The update of each coordinate of g (same shape as g) and the new state. `state` undefined: zeros.
  torch::Tensor forward(const torch::Tensor& g, LstmCoordinateState& state);
  LstmCoordinateState zero_state(int64_t coordinates, const torch::TensorOptions& options) const;
  const LstmNetOptions& options() const { return options_; }

 private:
  LstmNetOptions options_;
  torch::nn::LSTM lstm_{nullptr};
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(LstmNet);

// The checkpoint format of a trained network (`lstm:PATH` rules, `nos learn`'s best.pt): a LibTorch archive with
// "nos_lstm_format" (1), the options ("hidden", "layers", "preprocess_p", "output_scale") and the module's
// parameters under "net/". save_lstm_net writes it atomically (temporary file, then rename).
void save_lstm_net(const LstmNet& net, const std::string& path);
// Throws UserError naming the file when it is missing, not such an archive, or its weights do not fit its shape.
LstmNet load_lstm_net(const std::string& path);

// The options of LstmOptimizer: lr multiplies the network's update (1 = as trained; the lr grid of nos compare
// scales it).
struct LstmOptions : public torch::optim::OptimizerCloneableOptions<LstmOptions> {
  LstmOptions(double lr = 1.0) : lr_(lr) {}  // NOLINT(google-explicit-constructor)
  TORCH_ARG(double, lr) = 1.0;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override { return lr(); }
  void set_lr(double lr) override { this->lr(lr); }
  ~LstmOptions() override = default;
};

// The LSTM's hidden state for one parameter's coordinates.
struct LstmParamState : public torch::optim::OptimizerCloneableParamState<LstmParamState> {
  TORCH_ARG(int64_t, step) = 0;
  TORCH_ARG(torch::Tensor, h);
  TORCH_ARG(torch::Tensor, c);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  ~LstmParamState() override = default;
};

// w ← w + lr · net(g) per coordinate, with each parameter's LSTM state carried across steps (no gradient flows:
// this is the optimizer at use, not at meta-training). save/load keep the states.
class LstmOptimizer : public torch::optim::Optimizer {
 public:
  LstmOptimizer(std::vector<torch::optim::OptimizerParamGroup> param_groups, LstmNet net, LstmOptions defaults = {});
  LstmOptimizer(std::vector<torch::Tensor> params, LstmNet net, LstmOptions defaults = {});
  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  const LstmNet& net() const { return net_; }

 private:
  LstmNet net_;
};

}  // namespace nos::optimizers
