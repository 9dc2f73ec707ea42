// What a training run (tasks/trainer.h) and a population of runs (tasks/population.h) share: the data on the run's
// device, the seeds of a run's random streams, and accuracy on a split.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tasks/datasets.h"
#include "optimizers/optimizers.h"
#include "common/clock.h"
#include "tasks/models.h"
#include "tasks/recipe.h"
#include "tasks/trainer.h"

namespace nos::tasks {

// A number as the run's messages print it (std::ostream's default format).
std::string number_text(double x);

// SplitMix64: independent seeds for the streams of one run (initialisation 1, batch order 2) from the user's seed.
uint64_t mix_seed(uint64_t seed, uint64_t stream);

// The data of one run on its device (still uint8: a quarter of the bytes of floats), normalised batch by batch.
struct DeviceData {
  torch::Tensor train_images, train_labels;
  torch::Tensor val_images, val_labels;
  torch::Tensor test_images, test_labels;
  Normalization normalization;
  torch::MemoryFormat memory_format = torch::MemoryFormat::Contiguous;
  torch::Device device = torch::kCPU;
  torch::Dtype dtype = torch::kFloat32;
  bool bfloat16_autocast = false;  // forward passes under AutocastScope (TrainConfig::bfloat16_autocast)
  int64_t channels = 0, height = 0, width = 0;

  // uint8 images [B, C, H, W] → normalised floats.
  torch::Tensor normalise(const torch::Tensor& images) const {
    return to_float_batch(images, normalization, device, dtype, memory_format);
  }
};

// While it lives, the network's forward passes on `device` run under LibTorch's bfloat16 autocast, when `on`
// (TrainConfig::bfloat16_autocast); nothing changes when not. Autocast's state is thread-local; the previous state
// is restored at the end of the scope, and the cast weights cached for it are dropped when the outermost scope ends.
class AutocastScope {
 public:
  AutocastScope(bool on, torch::Device device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_ = false;
  bool cuda_ = false;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

// Waits for the work queued on `device` (a GPU's stream); nothing on the CPU.
void synchronize(torch::Device device);

// The wall seconds since `mark`, once `device` has finished its queued work; `mark` moves to now.
double lap(Clock::time_point& mark, torch::Device device);

// A run's model: built for the data's shape, initialised from the run's seed (stream 1), on config's device and dtype.
Classifier initialised_model(const DeviceData& d, int64_t classes, const TrainConfig& config);

// What a run's optimizer does around its steps: the rule's optimizer at `lr` over the model's parameter groups (the
// rule's defaults with lr, the run's seed, T = total_steps and the fused-kernel choice), and the recipe's schedule
// factors (empty for a constant lr without warm-up).
struct RunOptimizer {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<double> factors;
  double peak_lr = 0;
  RunOptimizer(const optimizers::ResolvedRule& rule, const ClassifierImpl& model, const TrainConfig& config,
               double lr, int64_t total_steps, int64_t steps_per_epoch);
  // Step `step` (0-based) of the run, after the loss's backward: the recipe's clipping of `params`' gradients, the
  // scheduled lr, the optimizer's step.
  void step(const std::vector<torch::Tensor>& params, const Recipe& recipe, int64_t step);
};

// Throws UserError("training configuration: …") for a config or data set a run cannot take.
void check_training_config(const DataSplits& data, const TrainConfig& config);

// The splits moved to config.device; channels-last when config.channels_last and the model has convolutions.
DeviceData to_device(const DataSplits& data, const TrainConfig& config);

// Accuracy of `model` on uint8 `images`, in inference mode; NaN for an empty set. One host sync.
double accuracy(ClassifierImpl& model, const DeviceData& d, const torch::Tensor& images, const torch::Tensor& labels,
                int64_t batch_size);

}  // namespace nos::tasks
