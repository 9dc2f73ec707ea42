// MPI (mpi.h): rank 0's pool over the serving ranks, and their loop. Without NOS_HAVE_MPI only the refusals.
#include "dispatch/mpi.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/error.h"

#ifdef NOS_HAVE_MPI
#include <mpi.h>
#endif

namespace nos::dispatch {

int mpi_launched_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && std::atoi(value) > 0) return std::atoi(value);
  }
  return 1;
}

#ifndef NOS_HAVE_MPI

bool mpi_built() { return false; }

namespace {
[[noreturn]] void no_mpi() {
  throw UserError("this nos was built without MPI: install Open MPI (apt install libopenmpi-dev openmpi-bin, as "
                  "scripts/setup.sh does) and build again to run under mpirun or srun");
}
}  // namespace

MpiSession::MpiSession() { no_mpi(); }
MpiSession::~MpiSession() = default;
void MpiSession::stop_servers() {}
std::unique_ptr<EvaluatorPool> make_mpi_pool(MpiSession&, MpiPoolOptions) { no_mpi(); }
int mpi_serve(MpiSession&) { no_mpi(); }

#else

bool mpi_built() { return true; }

namespace {

// Message tags: rank 0 → a serving rank: the worker's command line (a pool starts), a job, reset (the pool is shut
// down: abandon the job, wait for the next setup), stop (the command ends); a serving rank → rank 0: a result.
enum Tag : int { kSetup = 1, kJob = 2, kStop = 3, kResult = 4, kReset = 5 };

void send(const std::string& text, int dest, int tag) {
  MPI_Send(text.data(), static_cast<int>(text.size()), MPI_CHAR, dest, tag, MPI_COMM_WORLD);
}

// Receives the message `status` announced (MPI_Probe / MPI_Iprobe).
std::string receive(const MPI_Status& status) {
  int count = 0;
  MPI_Get_count(&status, MPI_CHAR, &count);
  std::string text(static_cast<size_t>(count), '\0');
  MPI_Status got;
  MPI_Recv(text.data(), count, MPI_CHAR, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD, &got);
  return text;
}

// The worker's command line as one message: the executable and its args, each ended by '\0'.
std::string setup_text(const ProcessPoolOptions& o) {
  std::string text = o.executable + '\0';
  for (const std::string& a : o.args) text += a + '\0';
  return text + "kill_grace=" + std::to_string(o.kill_grace) + '\0';
}

ProcessPoolOptions parse_setup(const std::string& text) {
  std::vector<std::string> parts;
  size_t begin = 0;
  for (size_t end; (end = text.find('\0', begin)) != std::string::npos; begin = end + 1) {
    parts.push_back(text.substr(begin, end - begin));
  }
  NOS_CHECK(parts.size() >= 2 && parts.back().rfind("kill_grace=", 0) == 0, "MPI: a broken worker setup message");
  ProcessPoolOptions o;
  o.executable = parts.front();
  o.args.assign(parts.begin() + 1, parts.end() - 1);
  o.kill_grace = std::atof(parts.back().c_str() + 11);
  o.workers = 1;
  return o;
}

// NOS_MPI_DATA_DIR="fmnist=/a,cifar10=/b": this rank's data folders replace those in the worker's --data-dir args.
void override_data_dirs(ProcessPoolOptions& o) {
  const char* env = std::getenv("NOS_MPI_DATA_DIR");
  if (env == nullptr || *env == '\0') return;
  std::map<std::string, std::string> dirs;
  const std::string text = env;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = text.find(',', begin);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(begin, end - begin);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      throw UserError("NOS_MPI_DATA_DIR: expected DATASET=DIR[,DATASET=DIR...], got '" + item + "'");
    }
    dirs[item.substr(0, eq)] = item.substr(eq + 1);
    begin = end + 1;
  }
  std::vector<std::string> args;
  for (size_t i = 0; i < o.args.size(); ++i) {
    if (o.args[i] == "--data-dir" && i + 1 < o.args.size()) {
      const std::string dataset = o.args[i + 1].substr(0, o.args[i + 1].find('='));
      if (dirs.count(dataset)) {
        ++i;
        continue;
      }
    }
    args.push_back(o.args[i]);
  }
  for (const auto& [dataset, dir] : dirs) args.insert(args.end(), {"--data-dir", dataset + "=" + dir});
  o.args = args;
}

class MpiPool : public EvaluatorPool {
 public:
  MpiPool(MpiSession& session, MpiPoolOptions options) : session_(session) {
    NOS_CHECK(session.rank() == 0, "the MPI pool runs on rank 0");
    if (session.size() < 2 && !options.rank0_evaluates) {
      throw UserError("MPI: one rank and --rank0-evaluates not given: no rank would evaluate (start more ranks, "
                      "e.g. mpirun -np 3)");
    }
    const std::string setup = setup_text(options.worker);
    for (int r = 1; r < session.size(); ++r) {
      send(setup, r, kSetup);
      free_.push_back(r);
    }
    if (options.rank0_evaluates) {
      ProcessPoolOptions own = options.worker;
      own.workers = 1;
      local_ = std::make_unique<ProcessPool>(own);
    }
  }
  ~MpiPool() override { shutdown(); }

  int size() const override { return session_.size() - 1 + (local_ ? 1 : 0); }
  void submit(Job job) override { queue_.push_back(std::move(job)); }
  int outstanding() const override {
    return static_cast<int>(queue_.size() + busy_.size() + done_.size()) + (local_ ? local_->outstanding() : 0);
  }

  std::vector<JobResult> wait(double timeout_seconds) override {
    using Clock = std::chrono::steady_clock;
    const Clock::time_point until =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_seconds));
    for (;;) {
      dispatch();
      for (;;) {
        int flag = 0;
        MPI_Status status;
        MPI_Iprobe(MPI_ANY_SOURCE, kResult, MPI_COMM_WORLD, &flag, &status);
        if (!flag) break;
        JobResult result = decode_result(receive(status));
        const int rank = status.MPI_SOURCE;
        auto found = busy_.find(rank);
        // A result sent just before an earlier pool's reset reached the rank: that pool's job, dropped.
        if (found == busy_.end() || found->second != result.id) continue;
        busy_.erase(found);
        free_.push_back(rank);
        result.worker = rank;
        done_.push_back(std::move(result));
      }
      if (local_ && local_->outstanding() > 0) {
        for (JobResult& r : local_->wait(0)) {
          r.worker = 0;
          done_.push_back(std::move(r));
        }
      }
      if (!done_.empty() || Clock::now() >= until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::vector<JobResult> out;
    out.swap(done_);
    return out;
  }

  // The serving ranks abandon their jobs and wait for the next pool (a funnel stage after the search), or the stop
  // that ends the command (MpiSession).
  void shutdown() override {
    queue_.clear();
    if (local_) local_->shutdown();
    if (shut_) return;
    shut_ = true;
    for (int r = 1; r < session_.size(); ++r) send("", r, kReset);
    busy_.clear();
  }

 private:
  void dispatch() {
    while (!queue_.empty() && !free_.empty()) {
      const int rank = free_.front();
      free_.pop_front();
      busy_[rank] = queue_.front().id;
      send(encode_job(queue_.front()), rank, kJob);
      queue_.pop_front();
    }
    if (local_ && !queue_.empty() && local_->outstanding() == 0) {
      local_->submit(std::move(queue_.front()));
      queue_.pop_front();
    }
  }

  MpiSession& session_;
  std::deque<int> free_;          // serving ranks without a job, in the order they became free
  std::map<int, int64_t> busy_;   // rank → the job it runs
  std::deque<Job> queue_;
  std::vector<JobResult> done_;
  std::unique_ptr<ProcessPool> local_;
  bool shut_ = false;
};

}  // namespace

MpiSession::MpiSession() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  NOS_CHECK(!initialized, "MPI is initialised twice");
  MPI_Init(nullptr, nullptr);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiSession::~MpiSession() {
  if (rank_ == 0) stop_servers();
  MPI_Finalize();
}

void MpiSession::stop_servers() {
  if (rank_ != 0 || stopped_) return;
  stopped_ = true;
  for (int r = 1; r < size_; ++r) send("", r, kStop);
}

std::unique_ptr<EvaluatorPool> make_mpi_pool(MpiSession& session, MpiPoolOptions options) {
  return std::make_unique<MpiPool>(session, std::move(options));
}

int mpi_serve(MpiSession& session) {
  NOS_CHECK(session.rank() != 0, "rank 0 runs the search, not the serving loop");
  // mpirun forwards Ctrl-C and SIGTERM (Slurm's time limit) to every rank: rank 0 stops the command cleanly and
  // then tells this rank to stop; mpirun kills ranks that outstay it.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
  std::unique_ptr<ProcessPool> pool;
  bool busy = false;
  for (;;) {
    int flag = 0;
    MPI_Status status;
    MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &status);
    if (flag) {
      const std::string message = receive(status);
      if (status.MPI_TAG == kStop || status.MPI_TAG == kReset) {
        if (pool) pool->shutdown();
        pool.reset();
        busy = false;
        if (status.MPI_TAG == kStop) return 0;
        continue;
      }
      if (status.MPI_TAG == kSetup) {
        ProcessPoolOptions o = parse_setup(message);
        override_data_dirs(o);
        pool = std::make_unique<ProcessPool>(o);
        continue;
      }
      NOS_CHECK(status.MPI_TAG == kJob && pool && !busy, "MPI: an unexpected message (tag " << status.MPI_TAG << ")");
      pool->submit(decode_job(message));
      busy = true;
      continue;
    }
    if (!busy) {
      // Idle: a short sleep, not a spin (MPI_Probe would spin a core an evaluator on this machine needs).
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    for (const JobResult& r : pool->wait(0.005)) {
      send(encode_result(r), 0, kResult);
      busy = false;
    }
  }
}

#endif

}  // namespace nos::dispatch
