// One way to make the pool a command's children go to: worker processes of the nos executable (their argv spelled
// here once), or threads of this process; either wrapped in populations when asked.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "dispatch/pool.h"
#include "tasks/evaluator.h"

namespace nos::dispatch {

// Where and how children run (the settings that do not change results).
struct PoolSettings {
  int workers = 1;
  int threads = 1;                               // each worker process's intra-op threads (nos worker --threads)
  std::map<std::string, std::string> data_dirs;  // per data set ("fmnist" → dir): the workers' --data-dir
  std::string cache_dir;                         // decoded-image caches; empty: none
  int population = 1;                            // > 1 or 0 (auto): PopulationPool (with_population)
  // Worker processes: the nos executable, their log (stderr appended) and kill grace. Empty: threads of this
  // process, evaluating with `evaluator` (empty: a LocalEvaluator over data_dirs and cache_dir).
  std::string executable;
  std::string log_path;
  double kill_grace = ProcessPoolOptions().kill_grace;
  ProcessPoolFactory process_pool;               // set: makes the processes' pool (MPI) instead of a local one
  std::shared_ptr<tasks::Evaluator> evaluator;
  int in_process_threads = 0;                    // > 0: the in-process LocalEvaluator sets this thread count
};

// The arguments after the executable of each worker process: "worker" and its options.
std::vector<std::string> worker_args(const PoolSettings& settings);

std::unique_ptr<EvaluatorPool> make_pool(const PoolSettings& settings);

}  // namespace nos::dispatch
