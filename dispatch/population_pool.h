// Population jobs: a pool whose workers train up to K queued jobs of the same task settings at once, as one
// population (tasks/population.h), and give each job its own result.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dispatch/pool.h"

namespace nos::dispatch {

// How many jobs like `request` one population may hold: `population` when > 0; 0 (`auto`) gives on the CPU
// tasks::default_population for its model (the measured table), on another device tasks::measure_population_choice
// (measured once per task, device, dtype and batch size in this process and printed on stderr; the default where it
// cannot run); 1 for a request that cannot join a population (tasks::population_key empty: an analytic task, a model
// without a stacked form, a successive-halving grid).
int population_size(int population, const tasks::EvalRequest& request);

// Wraps a pool (of processes, threads or MPI ranks) so that each job it hands on is a population job: the first
// queued job and up to population_size − 1 more queued jobs of the same tasks::population_key (same task, budget,
// seed and data: only the rule, lr and lr grid differ), in the order they were submitted. A job alone goes on as a
// population of one when it uses the lr grid (its grid's lrs train as lanes side by side), otherwise as itself.
// Jobs with a debug hook always go alone. Every submitted job comes back exactly once with its own id and record,
// as from the wrapped pool; a population job that fails as a whole (its worker crashed, ran past the time limit or
// refused it) gives each of its jobs that failure, naming the population. A population job's time limit (for the
// worker's kill deadline, and the population's own limit) is the sum of its jobs' limits. Jobs are grouped when the wrapped pool has
// a free worker, so jobs submitted together (a search's batch, a comparison's runs) share populations.
class PopulationPool : public EvaluatorPool {
 public:
  PopulationPool(std::unique_ptr<EvaluatorPool> inner, int population);
  int size() const override { return inner_->size(); }
  void submit(Job job) override;
  std::vector<JobResult> wait(double timeout_seconds) override;
  int outstanding() const override;
  void shutdown() override;

 private:
  struct Sent {
    std::vector<Job> jobs;
    bool population = false;  // sent as a population job (else jobs holds the one job, sent as itself)
  };
  void dispatch();
  void take(JobResult result, std::vector<JobResult>& out);

  std::unique_ptr<EvaluatorPool> inner_;
  int population_;
  std::deque<std::pair<std::string, Job>> queue_;  // each job with its key ("" when it goes alone), in order
  std::map<int64_t, Sent> sent_;  // by the id the wrapped pool knows
  int64_t next_id_ = 0;
};

// `pool` itself when population is 1, else wrapped in a PopulationPool.
std::unique_ptr<EvaluatorPool> with_population(std::unique_ptr<EvaluatorPool> pool, int population);

}  // namespace nos::dispatch
