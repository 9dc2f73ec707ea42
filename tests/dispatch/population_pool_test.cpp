// PopulationPool: queued jobs of one task setting go to a worker together, each comes back once with its own record,
// debug-hooked and unstackable jobs go alone, and a population that fails as a whole fails each of its jobs.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "dispatch/population_pool.h"
#include "dispatch/wire.h"
#include "tasks/recipe.h"

namespace nos::dispatch {
namespace {

// Records how it was called; a request's record carries its rule, seed and lr (as the reward).
class RecordingEvaluator : public tasks::Evaluator {
 public:
  tasks::EvalRecord evaluate(const tasks::EvalRequest& r) override {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.push_back({r.rule});
    return record_of(r);
  }
  std::vector<tasks::EvalRecord> evaluate_population(const std::vector<tasks::EvalRequest>& requests) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> rules;
    std::vector<tasks::EvalRecord> records;
    for (const tasks::EvalRequest& r : requests) {
      rules.push_back("+" + r.rule);
      records.push_back(record_of(r));
      if (r.rule == "refuse") throw UserError("refused by the evaluator");
    }
    calls_.push_back(rules);
    return records;
  }
  std::vector<std::vector<std::string>> calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }

 private:
  static tasks::EvalRecord record_of(const tasks::EvalRequest& r) {
    tasks::EvalRecord record;
    record.rule = r.rule;
    record.seed = r.seed;
    record.status = tasks::Status::kOk;
    record.reward = r.lr;
    return record;
  }
  mutable std::mutex mutex_;
  std::vector<std::vector<std::string>> calls_;  // one entry per call; a population's rules start with '+'
};

Job job(int64_t id, const std::string& rule, uint64_t seed, double lr = 0.01, const std::string& task = "fmnist-mlp") {
  Job j;
  j.id = id;
  j.request.rule = rule;
  j.request.task = task;
  j.request.seed = seed;
  j.request.lr = lr;
  j.request.lr_search = "full";
  return j;
}

std::map<int64_t, JobResult> run_all(EvaluatorPool& pool, const std::vector<Job>& jobs) {
  for (const Job& j : jobs) pool.submit(j);
  EXPECT_EQ(pool.outstanding(), static_cast<int>(jobs.size()));
  std::map<int64_t, JobResult> results;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (pool.outstanding() > 0 && std::chrono::steady_clock::now() < until) {
    for (JobResult& r : pool.wait(0.1)) {
      EXPECT_TRUE(results.emplace(r.id, std::move(r)).second) << "job " << r.id << " came back twice";
    }
  }
  return results;
}

// Grouped in submission order, up to the population's size, by task setting (here the seed); a job with a debug
// hook and an analytic job alone; a lone grid job as a population of one (its lrs as lanes).
TEST(PopulationPool, GroupsJobsOfOneSettingAndReturnsEachOnce) {
  auto evaluator = std::make_shared<RecordingEvaluator>();
  PopulationPool pool(std::make_unique<ThreadPool>(evaluator, 1), 4);
  std::vector<Job> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back(job(i, "r" + std::to_string(i), 0, 0.01 * (i + 1)));
  jobs.push_back(job(6, "r6", 1));
  jobs.push_back(job(7, "r7", 1));
  jobs.push_back(job(8, "r8", 0));
  jobs.back().debug = "hang";  // a test hook: never stacked (the thread pool ignores it)
  jobs.push_back(job(9, "r9", 2, 0));
  jobs.push_back(job(10, "r10", 0, 0.01, "rosenbrock"));
  const std::map<int64_t, JobResult> results = run_all(pool, jobs);
  ASSERT_EQ(results.size(), jobs.size());
  for (const Job& j : jobs) {
    const tasks::EvalRecord& r = results.at(j.id).record;
    EXPECT_EQ(r.rule, j.request.rule);
    EXPECT_EQ(r.seed, j.request.seed);
    EXPECT_EQ(r.reward, j.request.lr);
  }
  const std::vector<std::vector<std::string>> expected = {
      {"+r0", "+r1", "+r2", "+r3"}, {"+r4", "+r5"}, {"+r6", "+r7"}, {"r8"}, {"+r9"}, {"r10"}};
  EXPECT_EQ(evaluator->calls(), expected);
}

// auto: the measured choice per model on the CPU — 16 logreg children at once, the convnet's alone.
TEST(PopulationPool, AutoTakesTheModelsMeasuredSize) {
  EXPECT_EQ(population_size(0, job(0, "a", 0, 0.01, "fmnist-logreg").request), 16);
  EXPECT_EQ(population_size(0, job(0, "a", 0, 0.01, "fmnist-convnet").request), 1);
  EXPECT_EQ(population_size(5, job(0, "a", 0, 0.01, "fmnist-convnet").request), 5);
  EXPECT_EQ(population_size(5, job(0, "a", 0, 0.01, "rosenbrock").request), 1);
  EXPECT_EQ(population_size(5, job(0, "a", 0, 0.01, "nonesuch").request), 1);
  Job on_device = job(0, "a", 0, 0.01, "fmnist-logreg");
  on_device.request.device = "cuda";
  EXPECT_EQ(population_size(0, on_device.request), 0);  // for a worker to measure
  auto evaluator = std::make_shared<RecordingEvaluator>();
  PopulationPool pool(std::make_unique<ThreadPool>(evaluator, 1), 0);
  std::vector<Job> jobs;
  for (int i = 0; i < 20; ++i) jobs.push_back(job(i, "l" + std::to_string(i), 0, 0.01, "fmnist-logreg"));
  for (int i = 20; i < 22; ++i) jobs.push_back(job(i, "c" + std::to_string(i), 0, 0.01, "fmnist-convnet"));
  ASSERT_EQ(run_all(pool, jobs).size(), jobs.size());
  const std::vector<std::vector<std::string>> calls = evaluator->calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0].size(), 16u);
  EXPECT_EQ(calls[1].size(), 4u);
  EXPECT_EQ(calls[2], std::vector<std::string>{"c20"});
  EXPECT_EQ(calls[3], std::vector<std::string>{"c21"});
}

// Takes up to `workers` jobs at once and answers them at the next wait, remembering what it was given; a
// measurement job gets `measured_k` (0: the measurement failed).
class RecordingPool : public EvaluatorPool {
 public:
  int size() const override { return workers; }
  void submit(Job job) override { jobs.push_back(job); }
  std::vector<JobResult> wait(double) override {
    std::vector<JobResult> out;
    for (; answered < jobs.size(); ++answered) {
      JobResult r;
      r.id = jobs[answered].id;
      r.worker = 7;
      for (const tasks::EvalRequest& m : jobs[answered].population) r.population.emplace_back().rule = m.rule;
      r.record.rule = jobs[answered].request.rule;
      if (jobs[answered].measure_population) {
        r.population_k = measured_k;
        r.record.message = measured_k > 0 ? "children-steps/s: K=1 10 K=2 30" : "no CUDA here";
      }
      out.push_back(r);
    }
    return out;
  }
  int outstanding() const override { return static_cast<int>(jobs.size() - answered); }
  void shutdown() override {}
  std::vector<Job> jobs;
  size_t answered = 0;
  int workers = 1;
  int measured_k = 3;
};

// What the wrapped pool was sent, in order: "M task" for a measurement, else the number of jobs sent together.
std::vector<std::string> sent_jobs(const RecordingPool& pool) {
  std::vector<std::string> out;
  for (const Job& j : pool.jobs) {
    out.push_back(j.measure_population ? "M " + j.request.task
                                       : std::to_string(std::max<size_t>(1, j.population.size())));
  }
  return out;
}

// n jobs of `task` on "cuda", ids from `first`.
std::vector<Job> cuda_jobs(int first, int n, const std::string& task) {
  std::vector<Job> jobs;
  for (int i = first; i < first + n; ++i) {
    jobs.push_back(job(i, task.substr(6, 1) + std::to_string(i), 0, 0.01, task));
    jobs.back().request.device = "cuda";
  }
  return jobs;
}

// A failed measurement: the model's default for a device (16), said with the worker's reason.
TEST(PopulationPool, AFailedMeasurementFallsBackToTheDefault) {
  auto inner = std::make_unique<RecordingPool>();
  RecordingPool* recorded = inner.get();
  recorded->measured_k = 0;
  PopulationPool pool(std::move(inner), 0);
  const std::vector<Job> jobs = cuda_jobs(0, 20, "fmnist-mlp");
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_all(pool, jobs).size(), jobs.size());
  const std::string said = testing::internal::GetCapturedStderr();
  EXPECT_EQ(sent_jobs(*recorded), (std::vector<std::string>{"M fmnist-mlp", "16", "4"}));
  EXPECT_NE(said.find("population auto for fmnist-mlp on cuda: not measured (no CUDA here); K = 16"),
            std::string::npos)
      << said;
}

// auto on a device: the worker measures K, once per setting, while that setting's jobs wait and others go on; the
// dispatcher says the worker's choice and never measures a device itself.
TEST(PopulationPool, AutoOnADeviceIsMeasuredByAWorkerOncePerSetting) {
  auto inner = std::make_unique<RecordingPool>();
  RecordingPool* recorded = inner.get();
  recorded->workers = 2;
  PopulationPool pool(std::move(inner), 0);
  std::vector<Job> jobs = cuda_jobs(0, 8, "fmnist-mlp");
  jobs.push_back(job(8, "r", 0, 0.01, "rosenbrock"));
  for (const Job& j : cuda_jobs(9, 2, "fmnist-logreg")) jobs.push_back(j);
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_all(pool, jobs).size(), jobs.size());
  // A second batch of the first setting: measured already, so no second measurement.
  EXPECT_EQ(run_all(pool, cuda_jobs(20, 2, "fmnist-mlp")).size(), 2u);
  const std::string said = testing::internal::GetCapturedStderr();
  // Two workers: the rosenbrock job goes while mlp's measurement runs; logreg's waits for a free worker.
  const std::vector<std::string> expected = {"M fmnist-mlp", "1", "3", "3", "2", "M fmnist-logreg", "2", "2"};
  EXPECT_EQ(sent_jobs(*recorded), expected);
  EXPECT_NE(said.find("population auto for fmnist-mlp on cuda: K = 3 (measured by worker 7, children-steps/s: K=1 "
                      "10 K=2 30)"),
            std::string::npos)
      << said;
  EXPECT_NE(said.find("population auto for fmnist-logreg on cuda: K = 3"), std::string::npos) << said;
}

// A population job's time limit — the worker's kill deadline — is the sum of its jobs' limits; a job alone keeps
// its own.
TEST(PopulationPool, APopulationsTimeLimitIsItsJobsSum) {
  auto inner = std::make_unique<RecordingPool>();
  RecordingPool* recorded = inner.get();
  PopulationPool pool(std::move(inner), 4);
  std::vector<Job> jobs = {job(0, "a", 0), job(1, "b", 0), job(2, "c", 0), job(3, "d", 1)};
  for (Job& j : jobs) j.request.time_limit = 60;
  ASSERT_EQ(run_all(pool, jobs).size(), 4u);
  ASSERT_EQ(recorded->jobs.size(), 2u);
  EXPECT_EQ(recorded->jobs[0].population.size(), 3u);
  EXPECT_EQ(recorded->jobs[0].request.time_limit, 180);
  for (const tasks::EvalRequest& r : recorded->jobs[0].population) EXPECT_EQ(r.time_limit, 60);
  EXPECT_TRUE(recorded->jobs[1].population.empty());
  EXPECT_EQ(recorded->jobs[1].request.time_limit, 60);
}

// The outer request of a population job is its first member's (the time limit aside), every field included: a
// regression test for the outer request copied from a reference into the vector that grew as members joined
// (issue 33: the schedule name, rule, task and device arrived empty).
TEST(PopulationPool, APopulationsOuterRequestIsItsFirstMembers) {
  auto inner = std::make_unique<RecordingPool>();
  RecordingPool* recorded = inner.get();
  PopulationPool pool(std::move(inner), 8);
  std::vector<Job> jobs;
  for (int i = 0; i < 5; ++i) {
    Job j = job(i, "exp(sign(g)*sign(m))*g + 0.000" + std::to_string(i + 1) + "*g", 7, 0.01 * (i + 1),
                "fmnist-convnet");
    j.request.epochs = 3;
    j.request.steps = 17;
    j.request.batch_size = 64;
    j.request.horizon_epochs = 9;
    j.request.lr_grid = {0.1, 0.01};
    j.request.hurdle = 0.25;
    tasks::set_recipe_key(j.request.recipe, "schedule", "cosine,warmup=0.1,warmup_start=0.2,eta_min=0.05", "test");
    tasks::set_recipe_key(j.request.recipe, "weight_decay", "0.01", "test");
    tasks::set_recipe_key(j.request.recipe, "weight_decay_mode", "decoupled", "test");
    tasks::set_recipe_key(j.request.recipe, "weight_decay_mask", "all", "test");
    tasks::set_recipe_key(j.request.recipe, "clip_norm", "1.5", "test");
    tasks::set_recipe_key(j.request.recipe, "clip_value", "0.5", "test");
    j.request.device = "cuda:1-with-a-long-name-that-is-not-small-string-optimised";
    j.request.dtype = "float64";
    j.request.validation_size = 500;
    j.request.train_size = 4000;
    j.request.augment = true;
    j.request.test_every_epoch = false;
    j.request.test_accuracy = false;
    j.request.time_limit = 30;
    jobs.push_back(j);
  }
  ASSERT_EQ(run_all(pool, jobs).size(), jobs.size());
  ASSERT_EQ(recorded->jobs.size(), 1u);
  const Job& sent = recorded->jobs[0];
  ASSERT_EQ(sent.population.size(), jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    Job member;
    member.request = sent.population[i];
    Job expected;
    expected.request = jobs[i].request;
    EXPECT_EQ(encode_job(member), encode_job(expected)) << "member " << i;
  }
  Job outer;
  outer.request = sent.request;
  EXPECT_EQ(outer.request.time_limit, 150);
  outer.request.time_limit = 30;
  Job first;
  first.request = jobs[0].request;
  EXPECT_EQ(encode_job(outer), encode_job(first));
  EXPECT_EQ(sent.request.recipe.schedule.name, "cosine");
  EXPECT_EQ(sent.request.rule, jobs[0].request.rule);
}

// A population the evaluator refuses: each of its jobs is an error naming the population, with its own rule.
TEST(PopulationPool, APopulationThatFailsFailsEachOfItsJobs) {
  auto evaluator = std::make_shared<RecordingEvaluator>();
  PopulationPool pool(std::make_unique<ThreadPool>(evaluator, 2), 3);
  const std::map<int64_t, JobResult> results =
      run_all(pool, {job(0, "a", 0), job(1, "refuse", 0), job(2, "b", 0), job(3, "c", 1)});
  ASSERT_EQ(results.size(), 4u);
  for (int64_t id : {0, 1, 2}) {
    const tasks::EvalRecord& r = results.at(id).record;
    EXPECT_EQ(r.status, tasks::Status::kError);
    EXPECT_EQ(r.message, "a population of 3 jobs: refused by the evaluator");
  }
  EXPECT_EQ(results.at(1).record.rule, "refuse");
  EXPECT_EQ(results.at(2).record.rule, "b");
  EXPECT_EQ(results.at(3).record.status, tasks::Status::kOk);
  EXPECT_EQ(results.at(3).record.rule, "c");
  // shutdown forgets everything queued or running.
  pool.submit(job(4, "d", 0));
  pool.shutdown();
  EXPECT_EQ(pool.outstanding(), 0);
}

}  // namespace
}  // namespace nos::dispatch
