// PopulationPool (population_pool.h): grouping queued jobs into population jobs and their records back into jobs.
#include "dispatch/population_pool.h"

#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <utility>

#include "common/error.h"
#include "tasks/population.h"

namespace nos::dispatch {

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

// What a measurement of `population: auto` on a device is for: the task, device, dtype and batch size.
std::string measure_key(const tasks::EvalRequest& request) {
  return request.task + "|" + request.device + "|" + request.dtype + "|" + std::to_string(request.batch_size);
}

// population_size for a request whose population_key is `key`.
int size_for(int population, const tasks::EvalRequest& request, const std::string& key) {
  if (key.empty()) return 1;
  if (population > 0) return population;
  if (request.device != "cpu") return 0;
  return tasks::default_population(tasks::parse_task_name(request.task).model, request.device);
}

}  // namespace

int population_size(int population, const tasks::EvalRequest& request) {
  std::string key;
  try {
    key = tasks::population_key(request);
  } catch (const UserError&) {
    return 1;
  }
  return size_for(population, request, key);
}

PopulationPool::PopulationPool(std::unique_ptr<EvaluatorPool> inner, int population)
    : inner_(std::move(inner)), population_(population) {
  NOS_CHECK(inner_ != nullptr && population_ >= 0, "a population pool needs a pool and a population >= 0");
}

// Jobs wait here, with their keys, until wait(): the jobs submitted together are then all in the queue to be grouped.
void PopulationPool::submit(Job job) {
  std::string key = key_of(job);
  queue_.emplace_back(std::move(key), std::move(job));
}

int PopulationPool::limit_for(const tasks::EvalRequest& request, const std::string& key) const {
  const int size = size_for(population_, request, key);
  if (size > 0) return size;
  auto found = measured_.find(measure_key(request));
  return found == measured_.end() ? 0 : found->second;
}

// A worker measures the device it owns; the jobs of this setting wait in the queue until its answer (take()).
void PopulationPool::measure(const tasks::EvalRequest& request) {
  for (const auto& [id, measuring] : measuring_) {
    if (measure_key(measuring) == measure_key(request)) return;
  }
  Job job;
  job.id = next_id_++;
  job.request = request;
  job.measure_population = true;
  // Its kill deadline: a few seconds of timing on a device, minutes at most where it is slow to start.
  if (job.request.time_limit > 0) job.request.time_limit = std::max(600.0, request.time_limit);
  measuring_.emplace(job.id, request);
  inner_->submit(std::move(job));
}

void PopulationPool::dispatch() {
  auto it = queue_.begin();
  while (it != queue_.end() && inner_->outstanding() < inner_->size()) {
    const std::string key = it->first;
    const int limit = limit_for(it->second.request, key);
    if (limit == 0) {
      measure(it->second.request);
      ++it;
      continue;
    }
    Sent sent;
    sent.jobs.push_back(std::move(it->second));
    it = queue_.erase(it);
    // The jobs before `it` wait for a measurement, so none has this key: the group is the first `limit` from here.
    for (auto more = it; static_cast<int>(sent.jobs.size()) < limit && more != queue_.end();) {
      if (more->first == key) {
        if (more == it) ++it;
        sent.jobs.push_back(std::move(more->second));
        more = queue_.erase(more);
      } else {
        ++more;
      }
    }
    send(std::move(sent), limit);
  }
}

void PopulationPool::send(Sent sent, int limit) {
  const tasks::EvalRequest& first = sent.jobs.front().request;
  sent.population = limit > 1 && (sent.jobs.size() > 1 || first.lr == 0);
  Job job;
  job.id = next_id_++;
  job.request = first;
  if (sent.population) {
    // The pool kills a worker past its job's time limit (plus the grace): a population has its children's sum.
    job.request.time_limit *= static_cast<double>(sent.jobs.size());
    for (const Job& j : sent.jobs) job.population.push_back(j.request);
  } else {
    job.debug = sent.jobs.front().debug;
  }
  sent_.emplace(job.id, std::move(sent));
  inner_->submit(std::move(job));
}

// A worker's measurement: its K for that setting from now on, or where it failed the model's default, said on stderr.
void PopulationPool::measured(JobResult result) {
  auto found = measuring_.find(result.id);
  const tasks::EvalRequest request = std::move(found->second);
  measuring_.erase(found);
  int k = result.population_k;
  std::cerr << "population auto for " << request.task << " on " << request.device << ": ";
  if (k > 0) {
    std::cerr << "K = " << k << " (measured by worker " << result.worker << ", " << result.record.message << ")\n";
  } else {
    k = tasks::default_population(tasks::parse_task_name(request.task).model, request.device);
    std::cerr << "not measured (" << result.record.message << "); K = " << k << "\n";
  }
  measured_[measure_key(request)] = k;
}

void PopulationPool::take(JobResult result, std::vector<JobResult>& out) {
  if (measuring_.count(result.id) > 0) return measured(std::move(result));
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
  measuring_.clear();
}

std::unique_ptr<EvaluatorPool> with_population(std::unique_ptr<EvaluatorPool> pool, int population) {
  if (population == 1) return pool;
  return std::make_unique<PopulationPool>(std::move(pool), population);
}

}  // namespace nos::dispatch
