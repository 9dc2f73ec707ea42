// `nos bench train`: samples/second of nos's training step beside the same model and loop in Python PyTorch.
#include <stdlib.h>
#include <unistd.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "common/text.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/eval_config.h"
#include "cli/json.h"
#include "common/error.h"
#include "optimizers/optimizers.h"
#include "tasks/tasks.h"

namespace nos::cli {

namespace po = boost::program_options;

namespace {

// The Python side: the same models (same layers, padding and pooling as tasks/models.cpp), Adam, and the same
// per-step work as nos's loop (gather uint8 rows, normalise per channel, forward, cross-entropy, backward, step,
// loss summed on the device), timed after a warm-up. Prints key=value lines.
constexpr const char* kPythonBench = R"PY(
import math, sys, time
try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except Exception as e:
    print("import_error=%s" % (e,))
    sys.exit(0)
name = sys.argv[1]
C, H, W, classes, batch, steps, warmup, threads, n_train = (int(a) for a in sys.argv[2:11])
lr = float(sys.argv[11])
channels_last = sys.argv[12] == "channels_last"
torch.set_num_threads(threads)
torch.manual_seed(0)

def cdiv(a, b):
    return -(-a // b)

def model_for(name):
    if name == "convnet":
        return nn.Sequential(
            nn.Conv2d(C, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * (H // 4) * (W // 4), classes))
    if name == "2c2d":
        return nn.Sequential(
            nn.Conv2d(C, 32, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True),
            nn.Flatten(), nn.Linear(64 * cdiv(cdiv(H, 2), 2) * cdiv(cdiv(W, 2), 2), 1024), nn.ReLU(inplace=True),
            nn.Linear(1024, classes))
    if name == "3c3d":
        side = lambda s: cdiv(cdiv(cdiv(s - 4, 2) - 2, 2), 2)
        return nn.Sequential(
            nn.Conv2d(C, 64, 5), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(64, 96, 3), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(96, 128, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Flatten(), nn.Linear(128 * side(H) * side(W), 512), nn.ReLU(inplace=True),
            nn.Linear(512, 256), nn.ReLU(inplace=True), nn.Linear(256, classes))
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, 1000), nn.ReLU(inplace=True),
                             nn.Linear(1000, 500), nn.ReLU(inplace=True), nn.Linear(500, 100), nn.ReLU(inplace=True),
                             nn.Linear(100, classes))
    if name == "logreg":
        return nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, classes))
    return None

model = model_for(name)
if model is None:
    print("unsupported_model=%s" % name)
    sys.exit(0)
if name == "3c3d":
    decayed = [p for n, p in model.named_parameters() if n.endswith("weight")]
    rest = [p for n, p in model.named_parameters() if not n.endswith("weight")]
    opt = torch.optim.Adam([{"params": decayed, "weight_decay": 0.002}, {"params": rest}], lr=lr)
else:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
model.train()
if channels_last:
    model = model.to(memory_format=torch.channels_last)
g = torch.Generator().manual_seed(0)
images = torch.randint(0, 256, (n_train, C, H, W), dtype=torch.uint8, generator=g)
labels = torch.randint(0, classes, (n_train,), generator=g)
pixels = images.transpose(0, 1).reshape(C, -1).double() / 255
mean, std = pixels.mean(1).tolist(), pixels.std(1, unbiased=False).tolist()
per_epoch = max(1, n_train // batch)
loss_sum = torch.zeros((), dtype=torch.float64)

def step(index):
    x = images.index_select(0, index).to(torch.float32)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    for c in range(C):
        x.select(1, c).mul_(1.0 / (255.0 * std[c])).sub_(mean[c] / std[c])
    loss = F.cross_entropy(model(x), labels.index_select(0, index))
    opt.zero_grad()
    loss.backward()
    opt.step()
    loss_sum.add_(loss.detach())

start = time.perf_counter()
cpu_start = time.process_time()
for i in range(warmup + steps):
    if i == warmup:
        loss_sum.item()
        start = time.perf_counter()
        cpu_start = time.process_time()
    if i % per_epoch == 0:
        order = torch.randperm(n_train, generator=g)
    step(order[(i % per_epoch) * batch:(i % per_epoch + 1) * batch])
loss_sum.item()
seconds = time.perf_counter() - start
cpu_seconds = time.process_time() - cpu_start
print("torch_version=%s" % torch.__version__)
print("threads=%d" % torch.get_num_threads())
print("seconds=%r" % seconds)
print("cpu_seconds=%r" % cpu_seconds)
print("samples_per_second=%r" % (steps * batch / seconds))
)PY";

struct PythonFigure {
  bool ok = false;
  std::string why;  // when not ok
  std::string version;
  double seconds = 0;
  double cpu_seconds = 0;
  double samples_per_second = 0;
};

PythonFigure run_python(const std::string& python, const std::string& model, const std::vector<int64_t>& ints,
                        double lr, bool channels_last, bool malloc_tuned) {
  PythonFigure figure;
  char path[] = "/tmp/nos-bench-XXXXXX.py";
  const int fd = ::mkstemps(path, 3);
  if (fd < 0) {
    figure.why = "cannot write the Python script to /tmp";
    return figure;
  }
  const std::string script = kPythonBench;
  const bool written = ::write(fd, script.data(), script.size()) == static_cast<ssize_t>(script.size());
  ::close(fd);
  if (!written) {
    ::unlink(path);
    figure.why = "cannot write the Python script to /tmp";
    return figure;
  }
  // The same allocator settings as nos's main(), through glibc's environment variables.
  std::string command = malloc_tuned ? "MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 " : "";
  command += shell_quote(python) + " " + path + " " + shell_quote(model);
  for (int64_t v : ints) command += " " + std::to_string(v);
  std::ostringstream lr_text;
  lr_text << std::setprecision(17) << lr;
  command += " " + lr_text.str() + (channels_last ? " channels_last" : " contiguous") + " 2>&1";
  std::string output;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[4096];
    size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
    const int status = ::pclose(pipe);
    if (status != 0 && output.find("samples_per_second=") == std::string::npos) {
      figure.why = python + " failed (exit status " + std::to_string(status) + ")";
    }
  } else {
    figure.why = "cannot start " + python;
  }
  ::unlink(path);
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
    std::string tail = output.size() > 400 ? output.substr(output.size() - 400) : output;
    figure.why = python + " gave no figure: " + tail;
  }
  return figure;
}

// Random uint8 images and labels of the data set's shape: the speed does not depend on the pixels.
tasks::DataSplits synthetic_data(const std::string& dataset, int64_t n) {
  const bool fmnist = dataset == "fmnist";
  const int64_t c = fmnist ? 1 : 3, side = fmnist ? 28 : 32;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(0);
  tasks::DataSplits data;
  data.name = dataset;
  data.provenance = "synthetic " + dataset + "-shaped data";
  data.num_classes = 10;
  data.train.images = torch::randint(0, 256, {n, c, side, side}, gen, torch::kUInt8);
  data.train.labels = torch::randint(0, 10, {n}, gen, torch::kInt64);
  data.validation.images = data.train.images.narrow(0, 0, 1);
  data.validation.labels = data.train.labels.narrow(0, 0, 1);
  data.test = data.validation;
  return data;
}

void print_help(std::ostream& out, const po::options_description& options) {
  out << "Usage: nos bench train [--task T] [--steps N] [--warmup W] [--threads K] [--batch-size B] [options]\n\n"
      << "Measures the samples/second of nos's training step (gather, normalise, forward, loss, backward, rule\n"
      << "step) on synthetic data of the task's shape, then of the same model, optimizer (Adam) and loop in Python\n"
      << "PyTorch (" << "python3 with 'import torch'), with the same thread count and batch size, in the same run,\n"
      << "and prints both and their ratio. Without Python PyTorch it says so and prints nos's figure only.\n\n"
      << options;
}

}  // namespace

int bench_command(const Args& args, std::ostream& out, std::ostream& err) {
  if (!args.empty() && args[0] == "step") return bench_step_command(Args(args.begin() + 1, args.end()), out, err);
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("task", po::value<std::string>()->value_name("T"), "a child-network task (default fmnist-convnet)")
      ("steps", po::value<std::string>()->value_name("N"), "timed steps (default 200)")
      ("warmup", po::value<std::string>()->value_name("W"), "untimed steps first (default 20)")
      ("threads", po::value<std::string>()->value_name("K"), "CPU threads for both (default: LibTorch's choice)")
      ("batch-size", po::value<std::string>()->value_name("B"), "batch size (default 128)")
      ("rule", po::value<std::string>()->value_name("R"), "nos's rule (default adam; Python always runs Adam)")
      ("device", po::value<std::string>()->value_name("DEV"), "nos's device: cpu or cuda (Python runs on the CPU)")
      ("python", po::value<std::string>()->value_name("EXE"), "the Python to compare with (default /usr/bin/python3)")
      ("no-python", po::bool_switch(), "measure nos only")
      ("nchw", po::bool_switch(), "nos keeps activations in NCHW (default: channels-last for convolutions)")
      ("python-channels-last", po::bool_switch(),
       "Python converts model and batches to channels-last too (default: PyTorch's NCHW, as most scripts do)")
      ("python-malloc-tuned", po::bool_switch(),
       "Python runs with nos's allocator settings (glibc's MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_)")
      ("json", po::bool_switch(), "print one JSON object");
  po::positional_options_description positional;
  positional.add("what", 1);
  po::options_description all;
  all.add(options);
  all.add_options()("what", po::value<std::string>());
  po::variables_map vm = parse_options(args, all, positional);
  if (vm.count("help")) {
    print_help(out, options);
    return kExitOk;
  }
  if (!vm.count("what")) {
    throw UserError("expected what to benchmark: 'nos bench train [options]' or 'nos bench step [options]'");
  }
  if (vm["what"].as<std::string>() != "train") {
    throw UserError("unknown benchmark '" + vm["what"].as<std::string>() + "' (known: train, step)");
  }
  auto flag = [&](const char* name) -> const std::string* {
    return vm.count(name) ? &vm[name].as<std::string>() : nullptr;
  };
  const std::string task_name = flag("task") ? parse_task(*flag("task"), "--task") : "fmnist-convnet";
  const tasks::TaskSpec task = tasks::parse_task_name(task_name);
  if (task.analytic) throw UserError("--task: '" + task_name + "' is an analytic objective; bench a network task");
  const int64_t steps = flag("steps") ? parse_count(*flag("steps"), "--steps", "a number of steps") : 200;
  int64_t warmup = 20;
  if (const std::string* v = flag("warmup")) {
    warmup = *v == "0" ? 0 : parse_count(*v, "--warmup", "a number of warm-up steps (or 0)");
  }
  const int64_t batch = flag("batch-size") ? parse_count(*flag("batch-size"), "--batch-size", "a batch size") : 128;
  if (const std::string* v = flag("threads")) at::set_num_threads(parse_threads(*v, "--threads"));
  const int threads = at::get_num_threads();
  const std::string rule_text = flag("rule") ? *flag("rule") : "adam";
  const optimizers::ResolvedRule rule = optimizers::resolve_rule(rule_text);
  const torch::Device device = flag("device") ? parse_device(*flag("device"), "--device") : torch::kCPU;
  const std::string python = flag("python") ? *flag("python") : "/usr/bin/python3";

  // Enough images for 64 distinct batches; the loop cycles through them as an epoch would.
  const int64_t n = batch * 64;
  tasks::TrainConfig config;
  config.model = task.model;
  config.batch_size = batch;
  config.lr = 1e-3;
  config.device = device;
  config.channels_last = !vm["nchw"].as<bool>();
  const bool python_channels_last = vm["python-channels-last"].as<bool>();
  const bool python_malloc_tuned = vm["python-malloc-tuned"].as<bool>();
  const tasks::DataSplits data = synthetic_data(task.dataset, n);
  const tasks::Throughput nos_figure = tasks::measure_training_throughput(rule, data, config, warmup, steps);

  PythonFigure py;
  if (vm["no-python"].as<bool>()) {
    py.why = "not measured (--no-python)";
  } else {
    const std::vector<int64_t> ints = {data.train.images.size(1), data.train.images.size(2),
                                       data.train.images.size(3), 10, batch, steps, warmup, threads, n};
    py = run_python(python, task.model, ints, config.lr, python_channels_last, python_malloc_tuned);
  }

  if (vm["json"].as<bool>()) {
    JsonObject json;
    json.add_string("task", task_name)
        .add_string("rule", rule_text)
        .add_int("batch_size", batch)
        .add_int("steps", steps)
        .add_int("warmup", warmup)
        .add_int("threads", threads)
        .add_string("device", device.str())
        .add_string("data", data.provenance)
        .add_bool("nos_channels_last", config.channels_last)
        .add_bool("python_channels_last", python_channels_last)
        .add_bool("python_malloc_tuned", python_malloc_tuned)
        .add_number("nos_samples_per_second", nos_figure.samples_per_second)
        .add_number("nos_seconds", nos_figure.seconds)
        .add_number("nos_cpu_seconds", nos_figure.cpu_seconds)
        .add_string("libtorch_version", TORCH_VERSION);
    if (py.ok) {
      json.add_number("python_samples_per_second", py.samples_per_second)
          .add_number("python_seconds", py.seconds)
          .add_number("python_cpu_seconds", py.cpu_seconds)
          .add_number("cpu_ratio", py.cpu_seconds / nos_figure.cpu_seconds)
          .add_string("python_torch_version", py.version)
          .add_number("ratio", nos_figure.samples_per_second / py.samples_per_second);
    } else {
      json.add_string("python", py.why);
    }
    out << json.str() << "\n";
    return kExitOk;
  }
  out << "bench train: " << task_name << ", rule " << rule_text << ", batch " << batch << ", " << threads
      << (threads == 1 ? " thread" : " threads") << ", " << steps << " steps after " << warmup << " warm-up, "
      << device.str() << ", " << data.provenance << "\n"
      << "layout: nos " << (config.channels_last ? "channels-last" : "NCHW") << "; Python "
      << (python_channels_last ? "channels-last" : "NCHW") << (python_malloc_tuned ? ", tuned malloc" : "")
      << "\n" << std::fixed;
  auto line = [&](const std::string& who, double samples_per_second, double seconds, double cpu_seconds) {
    out << std::left << std::setw(26) << who << std::right << std::setprecision(0) << std::setw(8)
        << samples_per_second << " samples/s (" << std::setprecision(2) << seconds << " s wall, " << cpu_seconds
        << " s CPU)\n";
  };
  line(std::string("nos (LibTorch ") + TORCH_VERSION + ")", nos_figure.samples_per_second, nos_figure.seconds,
       nos_figure.cpu_seconds);
  if (py.ok) {
    line("Python PyTorch " + py.version, py.samples_per_second, py.seconds, py.cpu_seconds);
    out << "ratio nos/Python: " << std::setprecision(2) << nos_figure.samples_per_second / py.samples_per_second
        << "x (wall), " << py.cpu_seconds / nos_figure.cpu_seconds << "x (CPU time)\n";
  } else {
    out << "Python PyTorch: " << py.why << "\n";
  }
  return kExitOk;
}

}  // namespace nos::cli
