// PopulationPool (population_pool.h): grouping queued jobs into population jobs and their records back into jobs.
#include "dispatch/population_pool.h"

#include <iostream>
#include <map>
#include <mutex>
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

// auto on a device: measured once per task, device, dtype and batch size in this process (a few seconds on a GPU),
// and said on stderr; the fallback where the measurement cannot run (no such device here).
int measured_population(const tasks::TaskSpec& task, const tasks::EvalRequest& request) {
  static std::mutex mutex;
  static std::map<std::string, int> known;
  const std::string key = task.name + "|" + request.device + "|" + request.dtype + "|" +
                          std::to_string(request.batch_size);
  std::lock_guard<std::mutex> lock(mutex);
  auto found = known.find(key);
  if (found != known.end()) return found->second;
  int k = tasks::default_population(task.model, request.device);
  try {
    tasks::TrainConfig config;
    config.model = task.model;
    config.batch_size = request.batch_size;
    config.device = torch::Device(request.device);
    config.dtype = request.dtype == "float64" ? torch::kFloat64 : torch::kFloat32;
    const tasks::PopulationChoice choice = tasks::measure_population_choice(task.dataset, config, 64, 10);
    k = static_cast<int>(choice.k);
    std::cerr << "population auto for " << task.name << " on " << request.device << ": K = " << k
              << " (children-steps/s:";
    for (const auto& [size, rate] : choice.rates) std::cerr << " K=" << size << " " << static_cast<int64_t>(rate);
    std::cerr << (choice.stopped.empty() ? "" : "; stopped at " + choice.stopped) << ")\n";
  } catch (const std::exception& e) {
    std::cerr << "population auto for " << task.name << " on " << request.device << ": not measured (" << e.what()
              << "); K = " << k << "\n";
  }
  known.emplace(key, k);
  return k;
}

// population_size for a request whose population_key is `key`.
int size_for(int population, const tasks::EvalRequest& request, const std::string& key) {
  if (key.empty()) return 1;
  if (population > 0) return population;
  const tasks::TaskSpec task = tasks::parse_task_name(request.task);
  if (request.device == "cpu") return tasks::default_population(task.model, request.device);
  return measured_population(task, request);
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

void PopulationPool::dispatch() {
  while (!queue_.empty() && inner_->outstanding() < inner_->size()) {
    const std::string key = std::move(queue_.front().first);
    Sent sent;
    sent.jobs.push_back(std::move(queue_.front().second));
    queue_.pop_front();
    // The first job's request and debug hook are copied before more jobs join: push_back may move the vector.
    const tasks::EvalRequest first_request = sent.jobs.front().request;
    const std::string first_debug = sent.jobs.front().debug;
    const int limit = size_for(population_, first_request, key);
    for (auto it = queue_.begin(); static_cast<int>(sent.jobs.size()) < limit && it != queue_.end();) {
      if (it->first == key) {
        sent.jobs.push_back(std::move(it->second));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    sent.population = limit > 1 && (sent.jobs.size() > 1 || first_request.lr == 0);
    Job job;
    job.id = next_id_++;
    job.request = first_request;
    if (sent.population) {
      // The pool kills a worker past its job's time limit (plus the grace): a population has its children's sum.
      job.request.time_limit_seconds *= static_cast<double>(sent.jobs.size());
      for (const Job& j : sent.jobs) job.population.push_back(j.request);
    } else {
      job.debug = first_debug;
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

}  // namespace nos::dispatch
