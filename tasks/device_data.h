// What a training run (tasks/trainer.h) and a population of runs (tasks/population.h) share: the data on the run's
// device, the seeds of a run's random streams, and accuracy on a split.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "tasks/datasets.h"
#include "tasks/models.h"
#include "tasks/trainer.h"

namespace nos::tasks {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start);
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
  int64_t channels = 0, height = 0, width = 0;

  // uint8 images [B, C, H, W] → normalised floats.
  torch::Tensor normalise(const torch::Tensor& images) const {
    return to_float_batch(images, normalization, device, dtype, memory_format);
  }
};

// Throws UserError("training configuration: …") for a config or data set a run cannot take.
void check_training_config(const DataSplits& data, const TrainConfig& config);

// The splits moved to config.device; channels-last when config.channels_last and the model has convolutions.
DeviceData to_device(const DataSplits& data, const TrainConfig& config);

// Accuracy of `model` on uint8 `images`, in inference mode; NaN for an empty set. One host sync.
double accuracy(ClassifierImpl& model, const DeviceData& d, const torch::Tensor& images, const torch::Tensor& labels,
                int64_t batch_size);

}  // namespace nos::tasks
