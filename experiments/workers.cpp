// make_worker_pool: a ThreadPool over a LocalEvaluator, or a ProcessPool of `nos worker` processes.
#include "experiments/workers.h"

#include "common/error.h"
#include "experiments/machine.h"
#include "search/population_pool.h"
#include "tasks/evaluator.h"

namespace nos::experiments {

std::unique_ptr<search::EvaluatorPool> make_worker_pool(const CompareConfig& config, const WorkerSetup& setup) {
  const std::string dataset = tasks::parse_task_name(config.task).dataset;
  if (setup.in_process) {
    tasks::LocalEvaluatorOptions o;
    if (!config.data_dir.empty()) o.data_dirs[dataset] = config.data_dir;
    o.cache_dir = setup.cache_dir;
    o.threads = config.threads;
    return search::with_population(
        std::make_unique<search::ThreadPool>(std::make_shared<tasks::LocalEvaluator>(o), config.jobs),
        config.population);
  }
  search::ProcessPoolOptions o;
  o.executable = executable_path();
  if (o.executable.empty()) {
    throw UserError("cannot find the nos executable (/proc/self/exe) to start workers; use --in-process");
  }
  o.args = {"worker", "--threads", std::to_string(config.threads)};
  if (!config.data_dir.empty()) o.args.insert(o.args.end(), {"--data-dir", dataset + "=" + config.data_dir});
  if (!setup.cache_dir.empty()) o.args.insert(o.args.end(), {"--cache-dir", setup.cache_dir});
  o.workers = config.jobs;
  o.log_path = config.out + "/workers.log";
  if (setup.process_pool) return search::with_population(setup.process_pool(o), config.population);
  return search::with_population(std::make_unique<search::ProcessPool>(o), config.population);
}

}  // namespace nos::experiments
