// `nos bench train`'s measurement: nos's training step on synthetic data beside the same loop in Python PyTorch.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "bench/python_runner.h"
#include "optimizers/named.h"
#include "tasks/datasets.h"
#include "tasks/evaluator.h"
#include "tasks/trainer.h"

namespace nos::bench {

struct TrainBenchOptions {
  tasks::TaskSpec task;                 // a child-network task (not an analytic objective)
  optimizers::ResolvedRule rule;        // nos's rule (Python always runs Adam)
  int64_t steps = 200;                  // timed steps
  int64_t warmup = 20;                  // untimed steps first
  int64_t batch = 128;
  double lr = 1e-3;
  torch::Device device = torch::kCPU;   // nos's device; Python runs on the CPU
  bool nos_channels_last = true;        // nos keeps convolution activations channels-last
  bool python = true;                   // false: measure nos only
  bool bfloat16 = false;                // also measure nos's step under bfloat16 autocast (TrainConfig)
  std::string python_executable = "/usr/bin/python3";
  bool python_channels_last = false;
  bool python_malloc_tuned = false;
};

struct TrainBenchResult {
  int threads = 1;         // LibTorch's intra-op threads, for both sides
  std::string provenance;  // what the data is ("synthetic fmnist-shaped data")
  tasks::Throughput nos;
  tasks::Throughput nos_bfloat16;  // under bfloat16 autocast, right after `nos` (steps 0 when not asked for)
  PythonFigure python;     // python.why says why there is no figure (empty when options.python is false)
};

// Measures nos's step, then the Python script's, with LibTorch's current thread count. The data holds 64 distinct
// batches; both loops cycle through them as an epoch would.
TrainBenchResult run_train_bench(const TrainBenchOptions& options);

}  // namespace nos::bench
