// Runs the compiled-in bench_train.py through popen and reads its key=value figures.
#include "bench/python_runner.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <iomanip>
#include <sstream>
#include <vector>

#include "common/text.h"

namespace nos::bench {

namespace {

// scripts/bench_train.py itself, compiled in by bench/CMakeLists.txt.
constexpr const char* kScript =
#include "bench_train_script.inc"
    ;

// The script in a fresh file under /tmp (removed by the caller); empty when it cannot be written.
std::string write_script() {
  char path[] = "/tmp/nos-bench-XXXXXX.py";
  const int fd = ::mkstemps(path, 3);
  if (fd < 0) return "";
  const std::string script = kScript;
  const bool written = ::write(fd, script.data(), script.size()) == static_cast<ssize_t>(script.size());
  ::close(fd);
  if (!written) {
    ::unlink(path);
    return "";
  }
  return path;
}

std::string command_line(const PythonRequest& r, const std::string& script) {
  // The same allocator settings as nos's main(), through glibc's environment variables.
  std::string command =
      r.malloc_tuned ? "MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_MMAP_MAX_=0 " : "";
  command += shell_quote(r.python) + " " + script + " " + shell_quote(r.model);
  for (int64_t v : {r.channels, r.height, r.width, r.classes, r.batch, r.steps, r.warmup, r.threads, r.train_size}) {
    command += " " + std::to_string(v);
  }
  std::ostringstream lr_text;
  lr_text << std::setprecision(17) << r.lr;
  return command + " " + lr_text.str() + (r.channels_last ? " channels_last" : " contiguous") + " 2>&1";
}

}  // namespace

const char* bench_train_script() { return kScript; }

PythonFigure run_python_bench(const PythonRequest& request) {
  const std::string script = write_script();
  if (script.empty()) {
    PythonFigure figure;
    figure.why = "cannot write the Python script to /tmp";
    return figure;
  }
  std::string output, failure;
  if (FILE* pipe = ::popen(command_line(request, script).c_str(), "r")) {
    char buffer[4096];
    size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
    const int status = ::pclose(pipe);
    if (status != 0 && output.find("samples_per_second=") == std::string::npos) {
      failure = request.python + " failed (" +
                (WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                   : std::string("killed by a signal")) +
                ")";
    }
  } else {
    failure = "cannot start " + request.python;
  }
  ::unlink(script.c_str());
  PythonFigure figure = parse_python_output(output, request.python);
  // A failure to start or a bad exit status is the reason, unless the output names a better one (no torch, no
  // such model).
  if (!failure.empty() && figure.why.rfind(request.python + " gave no figure", 0) == 0) figure.why = failure;
  return figure;
}

PythonFigure parse_python_output(const std::string& output, const std::string& python) {
  PythonFigure figure;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "import_error") figure.why = "'import torch' failed in " + python + ": " + value;
    if (key == "unsupported_model") figure.why = "the Python side has no model '" + value + "'";
    if (key == "torch_version") figure.version = value;
    if (key == "seconds") figure.seconds = std::stod(value);
    if (key == "cpu_seconds") figure.cpu_seconds = std::stod(value);
    if (key == "samples_per_second") {
      figure.samples_per_second = std::stod(value);
      figure.ok = figure.samples_per_second > 0;
    }
  }
  if (!figure.ok && figure.why.empty()) {
    const std::string tail = output.size() > 400 ? output.substr(output.size() - 400) : output;
    figure.why = python + " gave no figure: " + tail;
  }
  return figure;
}

}  // namespace nos::bench
