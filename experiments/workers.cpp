// make_worker_pool: a comparison's settings as dispatch::make_pool's.
#include "experiments/workers.h"

#include "common/error.h"
#include "experiments/machine.h"
#include "dispatch/make_pool.h"
#include "tasks/evaluator.h"

namespace nos::experiments {

std::unique_ptr<dispatch::EvaluatorPool> make_worker_pool(const CompareConfig& config, const WorkerSetup& setup) {
  dispatch::PoolSettings settings;
  settings.workers = config.jobs;
  settings.threads = config.threads;
  if (!config.data_dir.empty()) settings.data_dirs[tasks::parse_task_name(config.task).dataset] = config.data_dir;
  settings.cache_dir = setup.cache_dir;
  settings.population = config.population;
  settings.process_pool = setup.process_pool;
  if (setup.in_process) {
    settings.in_process_threads = config.threads;
    return dispatch::make_pool(settings);
  }
  settings.executable = executable_path();
  if (settings.executable.empty()) {
    throw UserError("cannot find the nos executable (/proc/self/exe) to start workers; use --in-process");
  }
  settings.log_path = config.out + "/workers.log";
  return dispatch::make_pool(settings);
}

}  // namespace nos::experiments
