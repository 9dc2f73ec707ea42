// The training-step benchmark: synthetic data, nos's throughput, then the Python script with the same sizes.
#include "bench/train_bench.h"

#include <ATen/Parallel.h>

#include "common/error.h"

namespace nos::bench {

TrainBenchResult run_train_bench(const TrainBenchOptions& o) {
  NOS_CHECK(!o.task.analytic, "bench train on an analytic objective");
  TrainBenchResult result;
  result.threads = at::get_num_threads();
  const int64_t n = o.batch * 64;
  tasks::TrainConfig config;
  config.model = o.task.model;
  config.batch_size = o.batch;
  config.lr = o.lr;
  config.device = o.device;
  config.channels_last = o.nos_channels_last;
  const tasks::DataSplits data = tasks::synthetic_data(o.task.dataset, n);
  result.provenance = data.provenance;
  result.nos = tasks::measure_training_throughput(o.rule, data, config, o.warmup, o.steps);
  if (o.bfloat16) {
    tasks::TrainConfig autocast = config;
    autocast.bfloat16_autocast = true;
    result.nos_bfloat16 = tasks::measure_training_throughput(o.rule, data, autocast, o.warmup, o.steps);
  }
  if (!o.python) return result;  // python.ok stays false; the caller says why
  PythonRequest request;
  request.python = o.python_executable;
  request.model = o.task.model;
  request.channels = data.train.images.size(1);
  request.height = data.train.images.size(2);
  request.width = data.train.images.size(3);
  request.classes = data.num_classes;
  request.batch = o.batch;
  request.steps = o.steps;
  request.warmup = o.warmup;
  request.threads = result.threads;
  request.train_size = n;
  request.lr = o.lr;
  request.channels_last = o.python_channels_last;
  request.malloc_tuned = o.python_malloc_tuned;
  result.python = run_python_bench(request);
  return result;
}

}  // namespace nos::bench
