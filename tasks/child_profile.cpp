// One epoch of a child timed phase by phase (child_profile.h).
#include "tasks/child_profile.h"

#include <algorithm>

#include "common/error.h"
#include "tasks/child_run.h"
#include "tasks/device_data.h"

namespace nos::tasks {

namespace {

// One pass timed after an untimed one at the same batch size: a run evaluates every epoch, so what it pays is the
// warm pass (oneDNN builds its kernels for a new batch shape on first use).
EvaluationTime time_evaluation(ClassifierImpl& model, const DeviceData& d, const torch::Tensor& images,
                               const torch::Tensor& labels, int64_t batch) {
  accuracy(model, d, images, labels, batch);
  EvaluationTime t;
  t.batch = batch;
  t.images = images.size(0);
  const Clock::time_point start = Clock::now();
  accuracy(model, d, images, labels, batch);  // one host sync at its end
  t.seconds = seconds_since(start);
  return t;
}

}  // namespace

ChildProfile profile_child(const optimizers::ResolvedRule& rule, const DataSplits& data, const TrainConfig& config,
                           const std::vector<int64_t>& extra_eval_batches) {
  check_training_config(data, config);
  if (!(config.lr > 0)) throw UserError("training configuration: the profile needs a fixed lr > 0");
  for (int64_t b : extra_eval_batches) {
    if (b < 1) throw UserError("training configuration: an evaluation batch size must be >= 1");
  }
  ChildProfile p;
  Clock::time_point mark = Clock::now();
  const DeviceData d = to_device(data, config);
  p.to_device = lap(mark, config.device);
  const int64_t n = data.train.size();
  p.steps = steps_per_epoch(n, config.batch_size);
  p.batch = std::min(config.batch_size, n);
  training::Child child(rule, d, data.num_classes, config, config.lr, p.steps);
  p.setup = lap(mark, config.device);

  const Clock::time_point epoch_start = mark;
  training::StepTimes times;
  const torch::Tensor order = child.epoch_order();
  torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(config.device));
  for (int64_t i = 0; i < p.steps; ++i) {
    loss_sum.add_(child.step(order.narrow(0, i * p.batch, p.batch), &times));
  }
  loss_sum.item<double>();
  const double training = seconds_since(epoch_start);
  p.gather = times.gather;
  p.forward = times.forward;
  p.backward = times.backward;
  p.update = times.update;
  p.other = std::max(0.0, training - (times.gather + times.forward + times.backward + times.update));
  const int64_t eval_batch = training::evaluation_batch(config);
  p.validation = time_evaluation(child.model(), d, d.val_images, d.val_labels, eval_batch);
  if (d.test_images.size(0) > 0) p.test = time_evaluation(child.model(), d, d.test_images, d.test_labels, eval_batch);
  p.epoch = training + p.validation.seconds + p.test.seconds;
  for (int64_t b : extra_eval_batches) {
    p.validation_at.push_back(time_evaluation(child.model(), d, d.val_images, d.val_labels, b));
  }
  return p;
}

}  // namespace nos::tasks
