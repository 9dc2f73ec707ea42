// The Python side of `nos bench train`: scripts/bench_train.py (compiled in) run by a Python interpreter.
#pragma once

#include <cstdint>
#include <string>

namespace nos::bench {

// What the script is asked to time: the model, the images' shape and the loop's sizes.
struct PythonRequest {
  std::string python = "/usr/bin/python3";  // the interpreter
  std::string model;                        // a model registry name (tasks::models())
  int64_t channels = 1, height = 28, width = 28, classes = 10;
  int64_t batch = 128, steps = 200, warmup = 20, threads = 1, train_size = 128 * 64;
  double lr = 1e-3;
  bool channels_last = false;  // convert model and batches to channels-last (PyTorch's default is NCHW)
  bool malloc_tuned = false;   // run with nos's allocator settings (glibc's environment variables)
};

// What came back: the figures, or why there are none.
struct PythonFigure {
  bool ok = false;
  std::string why;  // when not ok
  std::string version;
  double seconds = 0;
  double cpu_seconds = 0;
  double samples_per_second = 0;
};

// The text of scripts/bench_train.py, as built into nos.
const char* bench_train_script();

// Writes the script to a temporary file, runs it and reads its output. Never throws for a missing or failing
// Python: the figure says why.
PythonFigure run_python_bench(const PythonRequest& request);

// Reads the script's key=value lines (what run_python_bench does with them); `python` names it in messages.
PythonFigure parse_python_output(const std::string& output, const std::string& python);

}  // namespace nos::bench
