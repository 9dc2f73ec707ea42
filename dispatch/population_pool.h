// Population jobs: a pool whose workers train up to K queued jobs of the same task settings at once, as one
// population (tasks/population.h), and give each job its own result.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dispatch/pool.h"

namespace nos::dispatch {

// How many jobs like `request` one population may hold: `population` when > 0; 0 (`auto`) gives on the CPU
// tasks::default_population for its model (the measured table), and 0 on another device, where a worker measures it
// (PopulationPool); 1 for a request that cannot join a population (tasks::population_key empty: an analytic task, a
// model without a stacked form, a successive-halving grid).
int population_size(int population, const tasks::EvalRequest& request);

// Wraps a pool (of processes, threads or MPI ranks) so that each job it hands on is a population job: the first
// queued job and up to population_size − 1 more queued jobs of the same tasks::population_key (same task, budget,
// seed and data: only the rule, lr and lr grid differ), in the order they were submitted. A job alone goes on as a
// population of one when it uses the lr grid (its grid's lrs train as lanes side by side), otherwise as itself.
// Jobs with a debug hook always go alone. Every submitted job comes back exactly once with its own id and record,
// as from the wrapped pool; a population job that fails as a whole (its worker crashed, ran past the time limit or
// refused it) gives each of its jobs that failure, naming the population. A population job's time limit (for the
// worker's kill deadline, and the population's own limit) is the sum of its jobs' limits. Jobs are grouped when the
// wrapped pool has a free worker, so jobs submitted together (a search's batch, a comparison's runs) share
// populations. `auto` on a device: the worker that owns the device measures K (Job::measure_population,
// tasks::measure_population_size) once per task, device, dtype and batch size, while that setting's jobs wait and
// others go on; the pool says the choice on stderr, and takes the model's default where the measurement failed.
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
  // 0: auto on a device, not measured yet.
  int limit_for(const tasks::EvalRequest& request, const std::string& key) const;
  void measure(const tasks::EvalRequest& request);
  void measured(JobResult result);
  void dispatch();
  void send(Sent sent, int limit);
  void take(JobResult result, std::vector<JobResult>& out);

  std::unique_ptr<EvaluatorPool> inner_;
  int population_;
  std::list<std::pair<std::string, Job>> queue_;  // each job with its key ("" when it goes alone), in order
  std::map<int64_t, Sent> sent_;  // by the id the wrapped pool knows
  std::map<int64_t, tasks::EvalRequest> measuring_;  // measurement jobs in the wrapped pool, by id
  std::map<std::string, int> measured_;              // auto on a device: K per task, device, dtype and batch size
  int64_t next_id_ = 0;
};

// `pool` itself when population is 1, else wrapped in a PopulationPool.
std::unique_ptr<EvaluatorPool> with_population(std::unique_ptr<EvaluatorPool> pool, int population);

}  // namespace nos::dispatch
