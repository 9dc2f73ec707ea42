// The instances nos learn trains and evaluates on (learn.cpp, learn_evaluate.cpp): the streams of seeds, the
// configured family's problem batches and a curve's mean loss over its steps.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "experiments/learn.h"
#include "experiments/learn_family.h"

namespace nos::experiments::learn_detail {
// Streams of instances (stream_seed): training episodes, validation and test never share a seed.
inline constexpr uint64_t kTrainStream = 1, kValidationStream = 2, kTestStream = 3;

inline double mean_over_steps(const LossCurve& c) {
  double sum = 0;
  for (size_t t = 1; t < c.mean.size(); ++t) sum += c.mean[t];
  return sum / static_cast<double>(c.mean.size() - 1);
}

// The configured family's instances: training episodes on the training data, validation and test instances (other
// seeds) on held-out data (the MLP family: validation on images held out of the training split, test on the test
// split; validation_data "test": both on the test split, as runs before that key).
class Instances {
 public:
  explicit Instances(const LearnConfig& config) : config_(config) {
    if (config.family == "mlp") data_ = load_mlp_data(config.data_dir, config.validation_data == "train");
  }
  // n instances of `stream` number `index`; `architecture` empty: the trained one.
  std::unique_ptr<ProblemBatch> draw(uint64_t stream, uint64_t index, int64_t n,
                                     const std::string& architecture = "") const {
    const uint64_t seed = stream_seed(config_.seed, stream, index);
    if (config_.family == "quadratic") return std::make_unique<QuadraticBatch>(quadratic_batch(n, config_.dims, seed));
    const std::shared_ptr<const MlpData>& data = stream == kTrainStream        ? data_.train
                                                 : stream == kValidationStream ? data_.validation
                                                                               : data_.test;
    return std::make_unique<MlpBatch>(data,
                                      parse_architecture(architecture.empty() ? config_.architecture : architecture),
                                      n, config_.minibatch, seed);
  }

 private:
  const LearnConfig& config_;
  MlpSplits data_;
};

}  // namespace nos::experiments::learn_detail
