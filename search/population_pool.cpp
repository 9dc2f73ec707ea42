// PopulationPool (population_pool.h): grouping queued jobs into population jobs and their records back into jobs.
#include "search/population_pool.h"

#include <string>
#include <utility>

#include "common/error.h"
#include "tasks/population.h"

namespace nos::search {

namespace {

// The key a job groups by; "" when it goes alone.
std::string key_of(const Job& job) {
  if (!job.debug.empty()) return "";
  try {
    return tasks::population_key(job.request);
  } catch (const UserError&) {
    return "";  // an unknown task: the worker's evaluation says so, for this job alone
  }
}

}  // namespace

int population_size(int population, const tasks::EvalRequest& request) {
  std::string key;
  try {
    key = tasks::population_key(request);
  } catch (const UserError&) {
    return 1;
  }
  if (key.empty()) return 1;
  if (population > 0) return population;
  return tasks::default_population(tasks::parse_task_name(request.task).model, request.device);
}

PopulationPool::PopulationPool(std::unique_ptr<EvaluatorPool> inner, int population)
    : inner_(std::move(inner)), population_(population) {
  NOS_CHECK(inner_ != nullptr && population_ >= 0, "a population pool needs a pool and a population >= 0");
}

// Jobs wait here until wait(): the jobs submitted together are then all in the queue to be grouped.
void PopulationPool::submit(Job job) { queue_.push_back(std::move(job)); }

void PopulationPool::dispatch() {
  while (!queue_.empty() && inner_->outstanding() < inner_->size()) {
    Sent sent;
    sent.jobs.push_back(std::move(queue_.front()));
    queue_.pop_front();
    const Job& first = sent.jobs.front();
    const std::string key = key_of(first);
    const int limit = key.empty() ? 1 : population_size(population_, first.request);
    for (auto it = queue_.begin(); static_cast<int>(sent.jobs.size()) < limit && it != queue_.end();) {
      if (key_of(*it) == key) {
        sent.jobs.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    sent.population = limit > 1 && (sent.jobs.size() > 1 || first.request.lr == 0);
    Job job;
    job.id = next_id_++;
    if (sent.population) {
      job.request = first.request;
      for (const Job& j : sent.jobs) job.population.push_back(j.request);
    } else {
      job.request = first.request;
      job.debug = first.debug;
    }
    sent_.emplace(job.id, std::move(sent));
    inner_->submit(std::move(job));
  }
}

void PopulationPool::take(JobResult result, std::vector<JobResult>& out) {
  auto found = sent_.find(result.id);
  NOS_CHECK(found != sent_.end(), "the pool returned job " << result.id << ", which was not sent");
  Sent sent = std::move(found->second);
  sent_.erase(found);
  const size_t n = sent.jobs.size();
  for (size_t i = 0; i < n; ++i) {
    const Job& job = sent.jobs[i];
    JobResult r;
    r.id = job.id;
    r.worker = result.worker;
    if (!sent.population) {
      r.record = std::move(result.record);
    } else if (result.population.size() == n) {
      r.record = std::move(result.population[i]);
    } else {
      // The population failed as a whole: each job gets that failure, as its own.
      r.record = result.record;
      r.record.rule = job.request.rule;
      r.record.canonical.clear();
      r.record.seed = job.request.seed;
      if (n > 1) r.record.message = "a population of " + std::to_string(n) + " jobs: " + r.record.message;
    }
    out.push_back(std::move(r));
  }
}

std::vector<JobResult> PopulationPool::wait(double timeout_seconds) {
  dispatch();
  std::vector<JobResult> out;
  for (JobResult& r : inner_->wait(timeout_seconds)) take(std::move(r), out);
  dispatch();
  return out;
}

int PopulationPool::outstanding() const {
  int n = static_cast<int>(queue_.size());
  for (const auto& [id, sent] : sent_) n += static_cast<int>(sent.jobs.size());
  return n;
}

void PopulationPool::shutdown() {
  inner_->shutdown();
  queue_.clear();
  sent_.clear();
}

std::unique_ptr<EvaluatorPool> with_population(std::unique_ptr<EvaluatorPool> pool, int population) {
  if (population == 1) return pool;
  return std::make_unique<PopulationPool>(std::move(pool), population);
}

}  // namespace nos::search
