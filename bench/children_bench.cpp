// `nos bench children` (children_bench.h).
#include "bench/children_bench.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "bench/train_bench.h"
#include "common/error.h"
#include "tasks/population.h"

namespace nos::bench {

namespace {

// Times `measure(steps)` over at least min_seconds: from `steps`, scaled up by the shortfall (and 20% more) until a
// measurement lasts long enough. Gives up (a UserError) past a million steps: a step that takes no time.
tasks::Throughput timed(const std::function<tasks::Throughput(int64_t)>& measure, int64_t steps, double min_seconds) {
  for (;;) {
    const tasks::Throughput t = measure(steps);
    if (t.seconds >= min_seconds) return t;
    if (steps >= 1000000) {
      throw UserError("--min-seconds: " + std::to_string(steps) + " steps took only " + std::to_string(t.seconds) +
                      " s; nothing to measure");
    }
    const double scale = t.seconds > 0 ? 1.2 * min_seconds / t.seconds : 10.0;
    steps = std::min<int64_t>(1000000, std::max<int64_t>(steps + 1, static_cast<int64_t>(std::ceil(steps * scale))));
  }
}

}  // namespace

ChildrenBenchResult run_children_bench(const ChildrenBenchOptions& o) {
  tasks::check_population_model(o.task.model, "--task: ");
  if (!(o.min_seconds > 0) || !std::isfinite(o.min_seconds)) throw UserError("--min-seconds: must be > 0");
  if (o.steps < 1) throw UserError("--steps: must be >= 1");
  tasks::TrainConfig config;
  config.model = o.task.model;
  config.batch_size = o.batch;
  config.lr = o.lr;
  config.device = o.device;
  config.channels_last = o.channels_last;
  const tasks::DataSplits data = tasks::synthetic_data(o.task.dataset, 64 * o.batch);
  ChildrenBenchResult r;
  r.threads = at::get_num_threads();
  const tasks::Throughput solo = timed(
      [&](int64_t steps) { return tasks::measure_training_throughput(o.rule, data, config, o.warmup, steps); },
      o.steps, o.min_seconds);
  r.solo_steps_per_second = static_cast<double>(solo.steps) / solo.seconds;
  r.solo_seconds = solo.seconds;
  r.solo_steps = solo.steps;
  for (int64_t k : o.ks) {
    const std::vector<tasks::PopulationMember> members(static_cast<size_t>(k), {&o.rule, o.lr});
    const tasks::Throughput t = timed(
        [&](int64_t steps) { return tasks::measure_population_throughput(members, data, config, o.warmup, steps); },
        o.steps, o.min_seconds);
    ChildrenBenchRow row;
    row.k = k;
    row.seconds = t.seconds;
    row.steps = t.steps;
    row.children_steps_per_second = static_cast<double>(k * t.steps) / t.seconds;
    row.ratio = row.children_steps_per_second / r.solo_steps_per_second;
    r.rows.push_back(row);
  }
  return r;
}

}  // namespace nos::bench
