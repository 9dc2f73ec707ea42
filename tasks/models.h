// Classifier networks for child tasks: the NOS ConvNet, DeepOBS's 2c2d and 3c3d, an MLP, logistic regression, WRNs.
#pragma once

#include <torch/torch.h>

#include <ATen/core/Generator.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nos::tasks {

// K children of one model stacked (a population, tasks/population.h): every parameter and buffer of the model,
// named as named_parameters() and named_buffers() name them, with a leading dimension of K; child k's slice [k] is
// its own tensor.
struct StackedTensors {
  int64_t k = 1;
  bool training = true;
  std::map<std::string, torch::Tensor> tensors;
  const torch::Tensor& at(const std::string& name) const;  // a missing name is an internal error
};

// A classifier: forward maps float images [N, C, H, W] to logits [N, classes]. Models hold no optimizer, data or
// training loop, so a trainer (or a population of K children, tasks/population.h) can drive any of them.
class ClassifierImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor images) = 0;

  // K children at once: images [N, C, H, W] shared by every child, the weights and batch-norm buffers in `s`;
  // returns logits [K, N, classes], child k's being forward() of a model holding slice k (the first convolution or
  // dense layer as one layer of K times the outputs, later convolutions grouped by child, dense layers batched;
  // batch norm per channel, so per child, its running statistics updated in place when s.training). Returns an
  // undefined tensor for a model without a stacked form (has_stacked_forward() false).
  virtual bool has_stacked_forward() const { return false; }
  virtual torch::Tensor forward_stacked(const torch::Tensor& images, const StackedTensors& s) const { return {}; }

  // Redraws every parameter from `generator` (a CPU generator) and resets batch-norm statistics: the same
  // generator state gives the same weights bit for bit, independent of the global random state.
  virtual void initialize(at::Generator& generator) = 0;

  // The L2 penalty the model's definition prescribes (DeepOBS cifar10_3c3d: 0.002 on weights, not biases) and the
  // parameters it applies to. A trainer adds it as coupled weight decay, g ← g + weight_decay·w, which is the
  // gradient of weight_decay/2·‖w‖² (TensorFlow's l2_regularizer).
  double weight_decay() const { return weight_decay_; }
  std::vector<torch::Tensor> decayed_parameters() const;

  const std::string& model_name() const { return model_name_; }

 protected:
  ClassifierImpl(std::string model_name, double weight_decay)
      : model_name_(std::move(model_name)), weight_decay_(weight_decay) {}

 private:
  std::string model_name_;
  double weight_decay_;
};
using Classifier = std::shared_ptr<ClassifierImpl>;

// The image shape and class count a model is built for.
struct ModelShape {
  int64_t channels = 1, height = 28, width = 28, classes = 10;
};

// One model, or a family of models: a row of the model registry. make_model, check_model_name, the trainer, task
// names, help texts and `nos bench train`'s Python twin (scripts/bench_train.py, whose list a test compares with
// these rows) all follow it; adding a model is adding a row (and its test, and its twin in the script).
//   convnet  the NOS child (Bello et al. 2017): [conv3×3 32, no bias → batch norm → ReLU → max-pool 2×2] × 2 →
//            linear to `classes` (PyTorch's default init). The paper names the convolutions, filters, ReLU and batch
//            norm but not pooling or head; pooling after each block keeps the head small (1,568 inputs for 28×28)
//            and a single linear layer keeps the net "small two layer".
//   2c2d     DeepOBS fmnist_2c2d: conv5×5 32 SAME ReLU → max-pool 2 → conv5×5 64 SAME ReLU → max-pool 2 →
//            dense 1024 ReLU → dense; truncated normal σ 0.05 weights, biases 0.05.
//   3c3d     DeepOBS cifar10_3c3d: conv5×5 64 VALID → pool3 s2 SAME → conv3×3 96 VALID → pool → conv3×3 128 SAME →
//            pool → dense 512 → dense 256 → dense (ReLU between); Xavier-normal conv, Xavier-uniform dense, zero
//            biases, L2 0.002 on weights.
//   mlp      DeepOBS mnist_mlp: dense 1000 → 500 → 100 (ReLU) → dense; truncated normal σ 0.03, zero biases.
//   logreg   one dense layer on the flattened image, zero init (DeepOBS mnist_logreg).
//   wrn-D-K  Wide ResNet (Zagoruyko & Komodakis 2016): conv3×3 16, three groups of (D−4)/6 pre-activation basic
//            blocks of width 16K, 32K, 64K (strides 1, 2, 2), BN → ReLU → global average pool → dense; He-normal
//            conv weights. A family: any depth D = 6n+4 ≥ 10 and widening factor 1 ≤ K ≤ 64.
struct ModelInfo {
  std::string_view name;     // as written in a task name; a family's pattern ("wrn-D-K")
  std::string_view example;  // a name make_model takes: `name` itself, or the family's usual member ("wrn-16-4")
  std::string_view note;     // said beside the name in help texts ("the NOS child"); may be empty
  bool convolutional;        // the trainer keeps its activations channels-last
  int64_t min_side;          // the smallest image side it takes
  std::string_view limits;   // a family's condition on its members ("D = 6n+4, K >= 1"); empty for one model
  bool (*member)(std::string_view name);  // a family: whether `name` has the family's form; nullptr for one model
  void (*check)(std::string_view name);   // a family: throws nos::UserError for a member outside the limits
  Classifier (*make)(std::string_view name, const ModelShape& shape);  // built, not yet initialised
  std::string_view doc;      // one line
};

// The registry, in documentation order.
const std::vector<ModelInfo>& models();

// The row `name` belongs to (its own name, or the form of a family), or nullptr. A family member may still be
// outside the family's limits (check_model_name says).
const ModelInfo* find_model(std::string_view name);

// Every row's example name (convnet, 2c2d, 3c3d, mlp, logreg, wrn-16-4): names make_model takes.
std::vector<std::string> model_names();

// Builds the named model for images [N, channels, height, width] and `classes` outputs, its parameters drawn from a
// generator seeded with 0 (trainers call initialize with their own). Throws nos::UserError for an unknown name
// (listing the known ones) or a shape the model cannot take (an image too small for 3c3d's VALID convolutions, a
// WRN depth that is not 6n+4).
Classifier make_model(std::string_view name, int64_t channels, int64_t height, int64_t width, int64_t classes);

// Throws the UserError make_model would for an unknown name or a bad WRN depth, without building anything.
void check_model_name(std::string_view name);

// Number of scalar parameters (trainable tensors only, not batch-norm statistics).
int64_t parameter_count(const torch::nn::Module& module);

}  // namespace nos::tasks
