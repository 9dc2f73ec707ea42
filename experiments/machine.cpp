// Machine and build facts for the report: /proc/self/exe, /proc/cpuinfo, $PATH, git, LibTorch's version.
#include "experiments/machine.h"

#include <torch/version.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/text.h"

namespace nos::experiments {

namespace {

// The first line a shell command prints, or "".
std::string first_line_of(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  char buffer[512];
  std::string line;
  if (std::fgets(buffer, sizeof buffer, pipe) != nullptr) line = buffer;
  ::pclose(pipe);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

}  // namespace

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "";
}

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string git_commit_of(const std::string& dir) {
  if (dir.empty()) return "";
  const std::string git = "git -C " + shell_quote(dir) + " ";
  const std::string commit = first_line_of(git + "rev-parse --short HEAD 2>/dev/null");
  if (commit.empty()) return "";
  const std::string dirty = first_line_of(git + "status --porcelain --untracked-files=no 2>/dev/null");
  return commit + (dirty.empty() ? "" : "+dirty");
}

ReportContext machine_context(const std::string& command, const std::string& nos_version) {
  ReportContext context;
  context.command = command;
  context.machine = cpu_model();
  context.cores = static_cast<int>(std::thread::hardware_concurrency());
  context.nos_version = nos_version;
  const std::string exe = executable_path();
  const size_t slash = exe.rfind('/');
  context.git_commit = git_commit_of(slash == std::string::npos ? "" : exe.substr(0, slash));
  context.libtorch_version = TORCH_VERSION;
  context.gnuplot = find_on_path("gnuplot");
  return context;
}

std::string dirty_tree_warning(const ReportContext& context) {
  const std::string suffix = "+dirty";
  const std::string& c = context.git_commit;
  if (c.size() < suffix.size() || c.compare(c.size() - suffix.size(), suffix.size(), suffix) != 0) return "";
  return "the source tree (git " + c + ") has uncommitted changes: the report records '" + c +
         "' and cannot name the code that made it; commit first for figures you publish";
}

}  // namespace nos::experiments
