// Helpers of the search tests: small configs on analytic tasks, a scripted proposer, running the nos executable.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "search/search.h"

namespace nos::search::fixtures {

// A search on Rosenbrock (a child takes milliseconds) with a small controller.
// The whole text of a file ("" when it cannot be read).
inline std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline SearchConfig analytic_config(const std::string& proposer = "controller") {
  SearchConfig c;
  c.proposer = proposer;
  c.budget = 24;
  c.batch_size = 8;
  c.workers = 2;
  c.seed = 1;
  c.task.task = "rosenbrock";
  c.task.steps = 200;
  c.task.lr = 1e-3;
  c.task.threads = 1;
  c.prefilter.steps = 100;
  c.controller.hidden = 16;
  return c;
}

// Proposes the given token texts in order, round after round; remembers the rewards it was given.
class ScriptedProposer : public Proposer {
 public:
  explicit ScriptedProposer(std::vector<std::string> script) : script_(std::move(script)) {}
  std::string kind() const override { return "scripted"; }
  std::vector<Proposal> propose(int n) override {
    std::vector<Proposal> out;
    for (int i = 0; i < n; ++i) out.push_back({script_[next_++ % script_.size()], ""});
    return out;
  }
  void feedback(const std::vector<Proposal>&, const std::vector<double>& rewards) override {
    rewards_.insert(rewards_.end(), rewards.begin(), rewards.end());
  }
  std::string save() const override { return std::to_string(next_); }
  void load(const std::string& state) override { next_ = std::stoul(state); }
  const std::vector<double>& rewards() const { return rewards_; }

 private:
  std::vector<std::string> script_;
  size_t next_ = 0;
  std::vector<double> rewards_;
};

// Counts the evaluations per request rule, then evaluates in this process.
class CountingEvaluator : public tasks::Evaluator {
 public:
  tasks::EvalRecord evaluate(const tasks::EvalRequest& request) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++calls_[request.rule];
    }
    return inner_.evaluate(request);
  }
  std::map<std::string, int> calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }

 private:
  tasks::LocalEvaluator inner_;
  mutable std::mutex mutex_;
  std::map<std::string, int> calls_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `command` through the shell and collects its output.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Starts the nos executable with `args` in the background, its output sent to `log`.
inline pid_t spawn_nos(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> all = {NOS_EXECUTABLE};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);  // else the child's freopen would write this process's pending output a second time
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* out = std::freopen(log.c_str(), "w", stdout);
    if (out != nullptr) dup2(fileno(out), 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

inline int wait_exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The processes whose parent is `parent`, read from /proc/*/stat.
inline std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) children.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return children;
}

// Whether `pid` is a running process (a zombie left for a non-reaping init counts as gone).
inline bool running(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  const size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z' && stat[close + 2] != 'X';
}

}  // namespace nos::search::fixtures
