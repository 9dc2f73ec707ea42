// Worker processes (fork/exec of `nos worker`, one socket each, poll), worker threads, and the worker's loop.
#include "common/text.h"
#include "dispatch/pool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "common/clock.h"
#include "common/error.h"

namespace nos::dispatch {

namespace {

// A record of the job's rule, task and seed with only a status and a message: a failure's, or a measurement's answer.
tasks::EvalRecord bare_record(const Job& job, tasks::Status status, const std::string& message,
                                double seconds) {
  tasks::EvalRecord r;
  r.rule = job.request.rule;
  r.task = job.request.task;
  r.seed = job.request.seed;
  r.status = status;
  r.message = message;
  r.reward = 0;
  r.val_acc = r.test_acc = r.lr = kNaN;
  r.final_loss = kNaN;
  r.seconds = seconds;
  return r;
}

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = strsignal(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : std::string());
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "stopped";
}

// The exit status of a worker whose socket closed: it is given a second to exit, then killed.
int reap_exit_status(pid_t pid) {
  int status = 0;
  pid_t reaped = 0;
  for (int k = 0; k < 100 && reaped == 0; ++k) {
    reaped = waitpid(pid, &status, WNOHANG);
    if (reaped == 0) usleep(10000);
  }
  if (reaped == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  return status;
}

// Why a busy worker past its deadline is killed: a ready one ran its child past the time limit and the grace, one
// not yet ready never finished starting.
std::string overdue_message(bool ready, int index, double time_limit, double kill_grace) {
  return ready ? "the child ran past its time limit (" + nos::format_number(time_limit) + " s + " +
                     nos::format_number(kill_grace) + " s grace); worker " + std::to_string(index) + " was killed"
               : "worker " + std::to_string(index) + " did not start within " + nos::format_number(kStartupSeconds) +
                     " s and was killed";
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// one job in this process

JobResult evaluate_job(tasks::Evaluator& evaluator, const Job& job, int worker) {
  JobResult result;
  result.id = job.id;
  result.worker = worker;
  const Clock::time_point start = Clock::now();
  try {
    if (job.measure_population) {
      std::string report;
      result.population_k = tasks::measure_population_size(job.request, report);
      result.record = bare_record(job, tasks::Status::kOk, report, seconds_since(start));
    } else if (job.population.empty()) {
      result.record = evaluator.evaluate(job.request);
    } else {
      result.population = evaluator.evaluate_population(job.population);
      NOS_CHECK(result.population.size() == job.population.size(), "a population of "
                                                                       << job.population.size() << " gave "
                                                                       << result.population.size() << " records");
      result.record = result.population.front();
    }
  } catch (const UserError& e) {
    result.record = bare_record(job, tasks::Status::kError, e.what(), seconds_since(start));
  } catch (const std::exception& e) {
    result.record = bare_record(job, tasks::Status::kCrashed, std::string("the evaluation failed: ") + e.what(),
                                  seconds_since(start));
  }
  return result;
}

int serve(std::istream& in, std::ostream& out, tasks::Evaluator& evaluator) {
  // The handshake: a job's time limit is counted from here, not from the process start (loading LibTorch).
  out << kReadyLine << '\n' << std::flush;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const Job job = decode_job(line);
    // Test hooks (see Job): a crashing and a hanging child, to prove the search survives both.
    if (job.debug == "abort") {
      const rlimit no_core = {0, 0};  // a deliberate crash leaves no core file behind
      setrlimit(RLIMIT_CORE, &no_core);
      std::abort();
    }
    if (job.debug == "hang") {
      for (;;) pause();
    }
    const JobResult result = evaluate_job(evaluator, job, -1);
    out << encode_result(result) << '\n' << std::flush;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------------------------
// processes

struct ProcessPool::Worker {
  int index = 0;
  pid_t pid = -1;
  int fd = -1;          // our end of the socket on the worker's stdin and stdout
  std::string buffer;   // bytes read that do not yet make a whole line
  bool busy = false;
  bool ready = false;   // the worker has sent its handshake line
  Job job;
  Clock::time_point started;
  bool has_deadline = false;
  Clock::time_point deadline;
};

ProcessPool::ProcessPool(ProcessPoolOptions options) : options_(std::move(options)) {
  NOS_CHECK(options_.workers >= 1, "a pool needs a worker");
  for (int i = 0; i < options_.workers; ++i) {
    workers_.push_back(std::make_unique<Worker>());
    workers_.back()->index = i;
  }
}

ProcessPool::~ProcessPool() {
  for (auto& w : workers_) {
    if (w->pid < 0) continue;
    // An idle worker ends by itself when its input closes; a busy one (or one slow to go) is killed.
    ::close(w->fd);
    w->fd = -1;
    bool ended = false;
    for (int i = 0; i < 200 && !w->busy && !ended; ++i) {
      int status = 0;
      ended = waitpid(w->pid, &status, WNOHANG) == w->pid;
      if (!ended) usleep(10000);
    }
    if (!ended) {
      kill(w->pid, SIGKILL);
      waitpid(w->pid, nullptr, 0);
    }
    w->pid = -1;
  }
}

void ProcessPool::start(Worker& w) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    throw UserError(std::string("cannot create a socket for a worker: ") + std::strerror(errno));
  }
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls until exec.
  std::vector<std::string> args = {options_.executable};
  args.insert(args.end(), options_.args.begin(), options_.args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const char* log = options_.log_path.empty() ? nullptr : options_.log_path.c_str();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    ::close(sv[0]);
    ::close(sv[1]);
    throw UserError(std::string("cannot start a worker process: ") + std::strerror(errno));
  }
  if (pid == 0) {
    setpgid(0, 0);  // out of the terminal's foreground group: Ctrl-C goes to the search alone
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the search died before prctl took effect
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    dup2(sv[1], 0);
    dup2(sv[1], 1);
    if (log != nullptr) {
      const int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) dup2(fd, 2);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(sv[1]);
  w.pid = pid;
  w.fd = sv[0];
  w.buffer.clear();
  w.ready = false;
  ++starts_;
}

void ProcessPool::stop(Worker& w) {
  if (w.pid >= 0) {
    kill(w.pid, SIGKILL);
    waitpid(w.pid, nullptr, 0);
  }
  if (w.fd >= 0) ::close(w.fd);
  w.pid = -1;
  w.fd = -1;
  w.busy = false;
  w.buffer.clear();
}

JobResult ProcessPool::failure(Worker& w, tasks::Status status, const std::string& message) {
  JobResult r;
  r.id = w.job.id;
  r.worker = w.index;
  r.record = bare_record(w.job, status, message, seconds_since(w.started));
  return r;
}

void ProcessPool::dispatch() {
  for (auto& wp : workers_) {
    Worker& w = *wp;
    if (w.busy || queue_.empty()) continue;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    const std::string line = encode_job(job) + "\n";
    w.job = job;
    w.started = Clock::now();
    // A worker that died while idle shows up here as a failed send: it is restarted once for this job.
    bool sent = false;
    for (int attempt = 0; attempt < 2 && !sent; ++attempt) {
      if (w.pid < 0) start(w);
      size_t offset = 0;
      while (offset < line.size()) {
        const ssize_t n = send(w.fd, line.data() + offset, line.size() - offset, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        offset += static_cast<size_t>(n);
      }
      sent = offset == line.size();
      if (!sent) stop(w);
    }
    if (!sent) {
      done_.push_back(failure(w, tasks::Status::kCrashed, "worker " + std::to_string(w.index) + " could not be started or fed"));
      continue;
    }
    w.busy = true;
    set_deadline(w);
  }
}

void ProcessPool::set_deadline(Worker& w) {
  // Until its handshake a worker is loading LibTorch: that is not the child's time, but a worker that never
  // becomes ready must not hold the search either.
  const double limit = w.ready ? w.job.request.time_limit + options_.kill_grace : kStartupSeconds;
  w.has_deadline = !w.ready || w.job.request.time_limit > 0;
  if (w.has_deadline) {
    w.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limit));
  }
}

std::vector<JobResult> ProcessPool::wait(double timeout_seconds) {
  const Clock::time_point until =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_seconds));
  for (;;) {
    dispatch();
    if (!done_.empty()) break;
    std::vector<pollfd> fds;
    std::vector<Worker*> polled;
    Clock::time_point wake = until;
    for (auto& wp : workers_) {
      if (!wp->busy) continue;
      fds.push_back({wp->fd, POLLIN, 0});
      polled.push_back(wp.get());
      if (wp->has_deadline && wp->deadline < wake) wake = wp->deadline;
    }
    const Clock::time_point now = Clock::now();
    if (fds.empty() && now >= until) break;
    const int ms = wake <= now ? 0 : static_cast<int>(std::ceil(
                                          std::chrono::duration<double, std::milli>(wake - now).count()));
    const int ready = poll(fds.data(), fds.size(), ms);
    if (ready < 0 && errno != EINTR) throw InternalError(std::string("poll failed: ") + std::strerror(errno));
    for (size_t i = 0; ready > 0 && i < fds.size(); ++i) {
      Worker& w = *polled[i];
      if (fds[i].revents == 0) continue;
      char chunk[65536];
      const ssize_t n = recv(w.fd, chunk, sizeof chunk, MSG_DONTWAIT);
      if (n > 0) {
        w.buffer.append(chunk, static_cast<size_t>(n));
        size_t newline;
        while (w.busy && (newline = w.buffer.find('\n')) != std::string::npos) {
          const std::string line = w.buffer.substr(0, newline);
          w.buffer.erase(0, newline + 1);
          if (line == kReadyLine) {
            w.ready = true;
            set_deadline(w);
            continue;
          }
          JobResult result = decode_result(line);
          NOS_CHECK(result.id == w.job.id, "worker " << w.index << " answered job " << result.id << " for job "
                                                     << w.job.id);
          result.worker = w.index;
          done_.push_back(std::move(result));
          w.busy = false;
        }
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      // End of file or a reset: the worker is gone. Its exit status says how.
      const int status = reap_exit_status(w.pid);
      w.pid = -1;
      std::string message = "worker " + std::to_string(w.index) + " died while evaluating this child (" +
                            describe_exit(status) + ")";
      if (!options_.log_path.empty()) message += "; its messages are in " + options_.log_path;
      done_.push_back(failure(w, tasks::Status::kCrashed, message));
      stop(w);
    }
    // Past its time limit and the grace: the child cannot be stopped from outside, so its worker is killed.
    const Clock::time_point after = Clock::now();
    for (auto& wp : workers_) {
      Worker& w = *wp;
      if (!w.busy || !w.has_deadline || after < w.deadline) continue;
      const std::string message = overdue_message(w.ready, w.index, w.job.request.time_limit, options_.kill_grace);
      done_.push_back(failure(w, w.ready ? tasks::Status::kTimeout : tasks::Status::kCrashed, message));
      stop(w);
    }
    if (!done_.empty() || Clock::now() >= until) break;
  }
  std::vector<JobResult> out;
  out.swap(done_);
  return out;
}

void ProcessPool::submit(Job job) { queue_.push_back(std::move(job)); }

int ProcessPool::outstanding() const {
  int busy = 0;
  for (const auto& w : workers_) busy += w->busy;
  return static_cast<int>(queue_.size() + done_.size()) + busy;
}

void ProcessPool::shutdown() {
  for (auto& w : workers_) stop(*w);
  queue_.clear();
  done_.clear();
}

// ---------------------------------------------------------------------------------------------------------------
// threads

ThreadPool::ThreadPool(std::shared_ptr<tasks::Evaluator> evaluator, int threads) : evaluator_(std::move(evaluator)) {
  NOS_CHECK(threads >= 1 && evaluator_ != nullptr, "a thread pool needs an evaluator and a thread");
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this, i] { loop(i); });
}

ThreadPool::~ThreadPool() {
  shutdown();
  for (std::thread& t : threads_) t.join();
}

void ThreadPool::loop(int index) {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    JobResult result = evaluate_job(*evaluator_, job, index);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      done_.push_back(std::move(result));
    }
    finished_.notify_all();
  }
}

void ThreadPool::submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(job));
    ++outstanding_;
  }
  work_.notify_one();
}

std::vector<JobResult> ThreadPool::wait(double timeout_seconds) {
  std::unique_lock<std::mutex> lock(mutex_);
  finished_.wait_for(lock, std::chrono::duration<double>(timeout_seconds), [&] { return !done_.empty(); });
  std::vector<JobResult> out;
  out.swap(done_);
  outstanding_ -= static_cast<int>(out.size());
  return out;
}

int ThreadPool::outstanding() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return outstanding_;
}

void ThreadPool::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    queue_.clear();
    done_.clear();
    outstanding_ = 0;
  }
  work_.notify_all();
}

}  // namespace nos::dispatch
