// Parallel evaluation: a pool of worker processes (`nos worker`) or of threads, and the worker's serving loop.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <istream>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "dispatch/wire.h"
#include "tasks/evaluator.h"

namespace nos::dispatch {

// Evaluates jobs in parallel. Every submitted job comes back exactly once from wait(), whatever happens to it
// (a crash or a timeout is a result, not an exception), until shutdown().
class EvaluatorPool {
 public:
  virtual ~EvaluatorPool() = default;
  virtual int size() const = 0;
  // Queues a job; it starts as soon as a worker is free.
  virtual void submit(Job job) = 0;
  // Waits at most `timeout_seconds` for at least one finished job, then returns every finished one (maybe none).
  virtual std::vector<JobResult> wait(double timeout_seconds) = 0;
  // Jobs submitted and not yet returned by wait().
  virtual int outstanding() const = 0;
  // Stops every worker at once (a running child is abandoned) and forgets queued jobs.
  virtual void shutdown() = 0;
};

// The first line a worker writes, before any job: it has started and is ready.
inline constexpr const char* kReadyLine = "{\"ready\":true}";
// How long a worker may take to start (load LibTorch) before it counts as crashed.
inline constexpr double kStartupSeconds = 120;

struct ProcessPoolOptions {
  std::string executable;          // the nos executable (the CLI passes its own path)
  std::vector<std::string> args;   // after the executable: "worker" and its options
  int workers = 1;
  std::string log_path;            // the workers' stderr is appended here; empty: inherited
  double kill_grace = 30;          // a job with a time limit is killed this many seconds past it
};

// Makes the pool of worker processes for these options: a local ProcessPool, or under MPI a pool over the ranks
// (dispatch/mpi.h), each of which runs such a worker.
using ProcessPoolFactory = std::function<std::unique_ptr<EvaluatorPool>(const ProcessPoolOptions&)>;

// Runs each worker as a child process speaking the protocol of wire.h over a socket on its stdin and stdout. Workers
// start on first need; each is in its own process group (a terminal's Ctrl-C reaches only the search, which then
// stops them) and dies with the search (Linux parent-death signal), so even kill -9 of the search leaves none behind.
// A worker that exits or dies while busy gives its job status "crashed"; one busy past the job's time limit plus
// kill_grace is killed and its job gets status "timeout". Either way it is restarted for the next job.
class ProcessPool : public EvaluatorPool {
 public:
  explicit ProcessPool(ProcessPoolOptions options);
  ~ProcessPool() override;
  int size() const override { return options_.workers; }
  void submit(Job job) override;
  std::vector<JobResult> wait(double timeout_seconds) override;
  int outstanding() const override;
  void shutdown() override;
  // Workers started so far (restarts included): tests check that a crash led to a restart.
  int starts() const { return starts_; }

 private:
  struct Worker;
  void start(Worker& w);
  void stop(Worker& w);
  void dispatch();
  void set_deadline(Worker& w);
  JobResult failure(Worker& w, tasks::Status status, const std::string& message);

  ProcessPoolOptions options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::deque<Job> queue_;
  std::vector<JobResult> done_;
  int starts_ = 0;
};

// Evaluates jobs on threads of this process with one shared evaluator (tests, and machines without the executable).
// A child cannot be killed here: time limits are only those the evaluator applies itself, and debug hooks are
// ignored.
class ThreadPool : public EvaluatorPool {
 public:
  ThreadPool(std::shared_ptr<tasks::Evaluator> evaluator, int threads);
  ~ThreadPool() override;
  int size() const override { return static_cast<int>(threads_.size()); }
  void submit(Job job) override;
  std::vector<JobResult> wait(double timeout_seconds) override;
  int outstanding() const override;
  void shutdown() override;

 private:
  void loop(int index);

  std::shared_ptr<tasks::Evaluator> evaluator_;
  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::condition_variable work_, finished_;
  std::deque<Job> queue_;
  std::vector<JobResult> done_;
  int outstanding_ = 0;
  bool stopping_ = false;
};

// Evaluates one job in this process: the evaluator's record, or status "error" (the evaluator refused the request:
// a nos::UserError, message says why) or "crashed" (any other exception). A measurement job (Job::measure_population)
// answers population_k, its rates in record.message. Never throws.
JobResult evaluate_job(tasks::Evaluator& evaluator, const Job& job, int worker);

// The worker's loop (`nos worker`): writes kReadyLine, then reads one job per line from `in` until EOF, evaluates it
// and writes one result line to `out`, flushed. Obeys the jobs' debug hooks (see Job). Returns 0 at EOF.
int serve(std::istream& in, std::ostream& out, tasks::Evaluator& evaluator);

}  // namespace nos::dispatch
