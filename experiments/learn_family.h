// The problem families of nos learn (learn.h): batches of optimizee instances, each a row of θ [n, d] optimized side
// by side, with a loss per instance. The paper's two (Andrychowicz et al. 2016): random quadratics and a small MLP
// (here on Fashion-MNIST, the paper used MNIST).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace nos::experiments {

// n instances of a family: θ [n, d], one row per instance. Each instance's loss depends on its own row only.
struct ProblemBatch {
  torch::Tensor theta0;  // [n, d]: the instances' starting points
  virtual ~ProblemBatch() = default;
  // Each instance's loss [n] at θ on step `step`'s data (a deterministic family ignores the step), differentiable.
  virtual torch::Tensor loss(const torch::Tensor& theta, int64_t step) const = 0;
  // The losses [n] and their gradient [n, d] at θ, both detached, from one evaluation. By default autograd of
  // loss(θ, step).sum().
  virtual std::pair<torch::Tensor, torch::Tensor> loss_and_gradient(const torch::Tensor& theta, int64_t step) const;
  // The gradient alone: loss_and_gradient's.
  torch::Tensor gradient(const torch::Tensor& theta, int64_t step) const {
    return loss_and_gradient(theta, step).second;
  }
};

// The paper's random quadratics: f_i(θ_i) = ‖W_i θ_i − y_i‖², W, y and θ₀ ~ N(0, 1).
struct QuadraticBatch : ProblemBatch {
  torch::Tensor w, y;  // [n, dims, dims], [n, dims]
  torch::Tensor loss(const torch::Tensor& theta, int64_t step = 0) const override;  // [n]
  // Exact: 2 Wᵀ(Wθ − y).
  std::pair<torch::Tensor, torch::Tensor> loss_and_gradient(const torch::Tensor& theta, int64_t step) const override;
};
// n instances drawn from `seed` (the same seed, the same instances), in `dtype`.
QuadraticBatch quadratic_batch(int64_t n, int64_t dims, uint64_t seed, torch::Dtype dtype = torch::kFloat32);

// The MLP family's optimizee: fully connected hidden layers of one activation, then a linear read-out; written
// "sigmoid:20" (the paper's), "relu:20", "sigmoid:40", "sigmoid:20-20" (two hidden layers).
struct MlpArchitecture {
  std::string activation = "sigmoid";  // sigmoid | relu
  std::vector<int64_t> hidden = {20};
};
// Throws UserError saying what is wrong with `text`.
MlpArchitecture parse_architecture(const std::string& text);
std::string architecture_text(const MlpArchitecture& a);

// A classification data set as the MLP family reads it: normalised features [N, F] (float32) and labels [N].
struct MlpData {
  torch::Tensor features, labels;
  int64_t classes = 10;
};

// n MLPs of one architecture, each with its own initialisation (weights ~ N(0, 0.1²) truncated at 2σ, biases 0,
// as nos's mlp20 model) and its own minibatches: the loss at step t is each instance's mean cross-entropy on its
// t-th minibatch of `minibatch` examples drawn with replacement (a function of the seed and t only).
class MlpBatch : public ProblemBatch {
 public:
  MlpBatch(std::shared_ptr<const MlpData> data, MlpArchitecture architecture, int64_t n, int64_t minibatch,
           uint64_t seed, torch::Dtype dtype = torch::kFloat32);
  torch::Tensor loss(const torch::Tensor& theta, int64_t step) const override;
  // The data rows of step `step`'s minibatches, [n, minibatch].
  torch::Tensor rows(int64_t n, int64_t step) const;
  // Parameters per instance (d): per layer the weights [in, out] row-major, then the biases [out].
  int64_t dims() const { return dims_; }

 private:
  std::shared_ptr<const MlpData> data_;
  MlpArchitecture architecture_;
  std::vector<int64_t> widths_;  // features, hidden…, classes
  int64_t minibatch_;
  uint64_t seed_;
  int64_t dims_ = 0;
};

// Fashion-MNIST's training and test splits flattened for the MLP family (`data_dir` empty: Debian's
// dataset-fashion-mnist folder); the test split's normalisation is the training split's.
// Fashion-MNIST for the MLP family: training images, validation images and the test split. `held_out`: validation
// is 10,000 images held out of the training split (the last of its seeded permutation; a sixth of a smaller set);
// false: all 60,000 train and validation is the test split (runs made before the held-out block).
struct MlpSplits {
  std::shared_ptr<const MlpData> train, validation, test;
};
MlpSplits load_mlp_data(const std::string& data_dir, bool held_out = true);

// Well-mixed seeds for the streams of instances (training episodes, validation, test never share one).
uint64_t stream_seed(uint64_t seed, uint64_t stream, uint64_t index);

}  // namespace nos::experiments
