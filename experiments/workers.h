// The pool a comparison's runs go to: worker processes of the nos executable, or threads of this process.
#pragma once

#include <memory>
#include <string>

#include "experiments/compare_config.h"
#include "dispatch/pool.h"

namespace nos::experiments {

// How to run a comparison's runs (the settings that do not change results).
struct WorkerSetup {
  bool in_process = false;  // threads of this process instead of worker processes
  std::string cache_dir;    // decoded-image caches; empty: none
  dispatch::ProcessPoolFactory process_pool;  // set: makes the worker processes' pool (MPI) instead of a local one
};

// config.jobs workers of config.threads intra-op threads each, reading config.data_dir for the task's data set.
// Worker processes run this executable's hidden `worker` command and log to DIR/workers.log; an executable that
// cannot be found is a UserError that suggests --in-process.
std::unique_ptr<dispatch::EvaluatorPool> make_worker_pool(const CompareConfig& config, const WorkerSetup& setup);

}  // namespace nos::experiments
