// The shared pieces of training runs (device_data.h).
#include "tasks/device_data.h"

#include <algorithm>
#include <limits>
#include <sstream>

namespace nos::tasks {

namespace {

// Channels-last helps convolutions only (the model registry says which models have them).
bool has_convolutions(const std::string& model) {
  const ModelInfo* info = find_model(model);
  return info == nullptr || info->convolutional;
}

}  // namespace

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string number_text(double x) {
  std::ostringstream s;
  s << x;
  return s.str();
}

uint64_t mix_seed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

DeviceData to_device(const DataSplits& data, const TrainConfig& config) {
  DeviceData d;
  const torch::Tensor& train = data.train.images;
  d.channels = train.size(1);
  d.height = train.size(2);
  d.width = train.size(3);
  d.normalization = channel_stats(data.train);
  d.device = config.device;
  d.dtype = config.dtype;
  // Channels-last (NHWC) lets oneDNN run convolutions, batch norm and pooling without reordering: measured about 4x
  // faster per step than NCHW for the ConvNet on the CPU. Models without convolutions gain nothing from it.
  if (config.channels_last && has_convolutions(config.model)) d.memory_format = torch::MemoryFormat::ChannelsLast;
  d.train_images = train.to(config.device);
  d.train_labels = data.train.labels.to(config.device);
  d.val_images = data.validation.images.to(config.device);
  d.val_labels = data.validation.labels.to(config.device);
  d.test_images = data.test.images.to(config.device);
  d.test_labels = data.test.labels.to(config.device);
  return d;
}

double accuracy(ClassifierImpl& model, const DeviceData& d, const torch::Tensor& images, const torch::Tensor& labels,
                int64_t batch_size) {
  const int64_t n = images.size(0);
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  c10::InferenceMode inference;
  model.eval();
  torch::Tensor correct = torch::zeros({}, labels.options());
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t b = std::min(batch_size, n - start);
    torch::Tensor logits = model.forward(d.normalise(images.narrow(0, start, b)));
    correct.add_(logits.argmax(1).eq(labels.narrow(0, start, b)).sum());
  }
  model.train();
  return static_cast<double>(correct.item<int64_t>()) / static_cast<double>(n);
}

}  // namespace nos::tasks
