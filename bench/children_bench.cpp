// `nos bench children` (children_bench.h).
#include "bench/children_bench.h"

#include <ATen/Parallel.h>

#include "bench/train_bench.h"
#include "common/error.h"
#include "tasks/population.h"

namespace nos::bench {

ChildrenBenchResult run_children_bench(const ChildrenBenchOptions& o) {
  tasks::check_population_model(o.task.model, "--task: ");
  tasks::TrainConfig config;
  config.model = o.task.model;
  config.batch_size = o.batch;
  config.lr = o.lr;
  config.device = o.device;
  config.channels_last = o.channels_last;
  const tasks::DataSplits data = tasks::synthetic_data(o.task.dataset, 64 * o.batch);
  ChildrenBenchResult r;
  r.threads = at::get_num_threads();
  const tasks::Throughput solo = tasks::measure_training_throughput(o.rule, data, config, o.warmup, o.steps);
  r.solo_steps_per_second = static_cast<double>(solo.steps) / solo.seconds;
  for (int64_t k : o.ks) {
    const std::vector<tasks::PopulationMember> members(static_cast<size_t>(k), {&o.rule, o.lr});
    const tasks::Throughput t = tasks::measure_population_throughput(members, data, config, o.warmup, o.steps);
    ChildrenBenchRow row;
    row.k = k;
    row.seconds = t.seconds;
    row.children_steps_per_second = static_cast<double>(k * t.steps) / t.seconds;
    row.ratio = row.children_steps_per_second / r.solo_steps_per_second;
    r.rows.push_back(row);
  }
  return r;
}

}  // namespace nos::bench
