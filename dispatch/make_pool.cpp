#include "dispatch/make_pool.h"

#include "dispatch/population_pool.h"

namespace nos::dispatch {

std::vector<std::string> worker_args(const PoolSettings& settings) {
  std::vector<std::string> args = {"worker", "--threads", std::to_string(settings.threads)};
  for (const auto& [dataset, dir] : settings.data_dirs) args.insert(args.end(), {"--data-dir", dataset + "=" + dir});
  if (!settings.cache_dir.empty()) args.insert(args.end(), {"--cache-dir", settings.cache_dir});
  return args;
}

std::unique_ptr<EvaluatorPool> make_pool(const PoolSettings& settings) {
  if (!settings.executable.empty()) {
    ProcessPoolOptions o;
    o.executable = settings.executable;
    o.args = worker_args(settings);
    o.workers = settings.workers;
    o.log_path = settings.log_path;
    o.kill_grace = settings.kill_grace;
    if (settings.process_pool) return with_population(settings.process_pool(o), settings.population);
    return with_population(std::make_unique<ProcessPool>(o), settings.population);
  }
  std::shared_ptr<tasks::Evaluator> evaluator = settings.evaluator;
  if (!evaluator) {
    tasks::LocalEvaluatorOptions o;
    o.data_dirs = settings.data_dirs;
    o.cache_dir = settings.cache_dir;
    o.threads = settings.in_process_threads;
    evaluator = std::make_shared<tasks::LocalEvaluator>(o);
  }
  return with_population(std::make_unique<ThreadPool>(evaluator, settings.workers), settings.population);
}

}  // namespace nos::dispatch
