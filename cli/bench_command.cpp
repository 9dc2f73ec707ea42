// `nos bench`: the benchmark registry (train here; step, search and children in their files), picks the benchmark and
// prints the overview help; then
// `nos bench train`: its flags and its printing; bench::run_train_bench measures (bench/train_bench.h).
#include <ATen/Parallel.h>
#include <torch/version.h>
#include <unistd.h>

#include <cstdlib>
#include <iomanip>
#include <sstream>
#include <string>

#include "bench/bench.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/eval_config.h"
#include "common/json.h"
#include "common/error.h"
#include "common/text.h"
#include "optimizers/optimizers.h"
#include "tasks/tasks.h"

namespace nos::cli {

namespace po = boost::program_options;

namespace {

void print_train_bench_help(std::ostream& out, const po::options_description& options) {
  out << "Usage: nos bench train [--task T] [--steps N] [--warmup W] [--threads K] [--batch-size B] [options]\n\n"
      << "Measures the samples/second of nos's training step (gather, normalise, forward, loss, backward, rule\n"
      << "step) on synthetic data of the task's shape, then of the same model, optimizer (Adam) and loop in Python\n"
      << "PyTorch (" << "python3 with 'import torch'), with the same thread count and batch size, in the same run,\n"
      << "and prints both and their ratio. A Python without torch gives no figure: nos's figure and the reason are\n"
      << "printed and the benchmark fails (exit 1); --no-python measures nos alone. The other benchmarks: 'nos\n"
      << "bench --help'.\n\n"
      << options;
}

void print_json(std::ostream& out, const std::string& task_name, const std::string& rule_text,
                const bench::TrainBenchOptions& o, const bench::TrainBenchResult& r) {
  const tasks::Throughput& nos_figure = r.nos;
  const bench::PythonFigure& py = r.python;
  JsonObject json;
  json.add_string("task", task_name)
      .add_string("rule", rule_text)
      .add_int("batch_size", o.batch)
      .add_int("steps", o.steps)
      .add_int("warmup", o.warmup)
      .add_int("threads", r.threads)
      .add_string("device", o.device.str())
      .add_string("data", r.provenance)
      .add_bool("nos_channels_last", o.nos_channels_last)
      .add_bool("python_channels_last", o.python_channels_last)
      .add_bool("python_malloc_tuned", o.python_malloc_tuned)
      .add_number("nos_samples_per_second", nos_figure.samples_per_second)
      .add_number("nos_seconds", nos_figure.seconds)
      .add_number("nos_cpu_seconds", nos_figure.cpu_seconds)
      .add_string("libtorch_version", TORCH_VERSION);
  if (o.bfloat16) {
    json.add_number("nos_bfloat16_samples_per_second", r.nos_bfloat16.samples_per_second)
        .add_number("nos_bfloat16_seconds", r.nos_bfloat16.seconds)
        .add_number("bfloat16_ratio", r.nos_bfloat16.samples_per_second / nos_figure.samples_per_second);
  }
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
}

void print_text(std::ostream& out, const std::string& task_name, const std::string& rule_text,
                const bench::TrainBenchOptions& o, const bench::TrainBenchResult& r) {
  const tasks::Throughput& nos_figure = r.nos;
  const bench::PythonFigure& py = r.python;
  out << "bench train: " << task_name << ", rule " << rule_text << ", batch " << o.batch << ", " << r.threads
      << (r.threads == 1 ? " thread" : " threads") << ", " << o.steps << " steps after " << o.warmup
      << " warm-up, " << o.device.str() << ", " << r.provenance << "\n"
      << "layout: nos " << (o.nos_channels_last ? "channels-last" : "NCHW") << "; Python "
      << (o.python_channels_last ? "channels-last" : "NCHW") << (o.python_malloc_tuned ? ", tuned malloc" : "")
      << "\n" << std::fixed;
  auto line = [&](const std::string& who, double samples_per_second, double seconds, double cpu_seconds) {
    out << std::left << std::setw(26) << who << std::right << std::setprecision(0) << std::setw(8)
        << samples_per_second << " samples/s (" << std::setprecision(2) << seconds << " s wall, " << cpu_seconds
        << " s CPU)\n";
  };
  line(std::string("nos (LibTorch ") + TORCH_VERSION + ")", nos_figure.samples_per_second, nos_figure.seconds,
       nos_figure.cpu_seconds);
  if (o.bfloat16) {
    line("nos, bfloat16 autocast", r.nos_bfloat16.samples_per_second, r.nos_bfloat16.seconds,
         r.nos_bfloat16.cpu_seconds);
    out << "ratio bfloat16/float32 (nos): " << std::setprecision(2)
        << r.nos_bfloat16.samples_per_second / nos_figure.samples_per_second << "x (wall)\n";
  }
  if (py.ok) {
    line("Python PyTorch " + py.version, py.samples_per_second, py.seconds, py.cpu_seconds);
    out << "ratio nos/Python: " << std::setprecision(2) << nos_figure.samples_per_second / py.samples_per_second
        << "x (wall), " << py.cpu_seconds / nos_figure.cpu_seconds << "x (CPU time)\n";
  } else {
    out << "Python PyTorch: " << py.why << "\n";
  }
}

constexpr int kExitBenchFailed = 1;  // the benchmark ran but could not measure what it compares

// Whether `python` names an executable file: a path (with a '/') that is one, or a name found on PATH.
bool is_executable(const std::string& python) {
  if (python.empty()) return false;
  if (python.find('/') != std::string::npos) return ::access(python.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + python;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

// `nos bench`'s own help: what each benchmark measures (from the registry) and where its options are.
void print_overview(std::ostream& out) {
  out << "Usage: nos bench NAME [options]\n\nBenchmarks:\n";
  for (const Benchmark& b : benchmarks()) {
    std::string name = b.name;
    name.resize(std::max<size_t>(name.size() + 2, 10), ' ');
    out << "  " << name << b.summary << "\n";
  }
  out << "\nEach prints the figures it measured in this run and their ratios. 'nos bench NAME --help' (or\n"
      << "'nos help bench NAME') lists a benchmark's options.\n";
}

}  // namespace

void add_network_bench_options(po::options_description& options, int64_t default_steps, int64_t default_warmup,
                               const std::string& rule_help) {
  options.add_options()
      ("task", po::value<std::string>()->value_name("T"), "a child-network task (default fmnist-convnet)")
      ("steps", po::value<std::string>()->value_name("N"),
       ("timed steps (default " + std::to_string(default_steps) + ")").c_str())
      ("warmup", po::value<std::string>()->value_name("W"),
       ("untimed steps first (default " + std::to_string(default_warmup) + ")").c_str())
      ("threads", po::value<std::string>()->value_name("K"), "CPU threads (default: LibTorch's choice)")
      ("batch-size", po::value<std::string>()->value_name("B"), "batch size (default 128)")
      ("rule", po::value<std::string>()->value_name("R"), rule_help.c_str())
      ("device", po::value<std::string>()->value_name("DEV"), "nos's device: cpu (default), cuda or cuda:N");
}

NetworkBenchFlags read_network_bench_flags(const po::variables_map& vm) {
  auto flag = [&](const char* name) -> const std::string* {
    return vm.count(name) ? &vm[name].as<std::string>() : nullptr;
  };
  NetworkBenchFlags f;
  if (const std::string* v = flag("task")) f.task_name = *v;
  f.task = parsed_at("--task", [&] { return tasks::parse_task_name(f.task_name); });
  if (f.task.analytic) {
    throw UserError("--task: '" + f.task_name + "' is an analytic objective; bench a network task");
  }
  if (const std::string* v = flag("steps")) f.steps = whole_flag<int64_t>(*v, "--steps");
  if (const std::string* v = flag("warmup")) {
    f.warmup = whole_flag<int64_t>(*v, "--warmup", 0);
  }
  if (const std::string* v = flag("batch-size")) f.batch = whole_flag<int64_t>(*v, "--batch-size");
  if (const std::string* v = flag("threads")) at::set_num_threads(whole_flag<int>(*v, "--threads", 1, 1024));
  if (const std::string* v = flag("rule")) f.rule_text = *v;
  f.rule = optimizers::resolve_rule(f.rule_text);
  if (const std::string* v = flag("device")) f.device = parse_device(*v, "--device");
  return f;
}

namespace {
int bench_train_command(const Args& args, std::ostream& out, std::ostream& err);
}  // namespace

const std::vector<Benchmark>& benchmarks() {
  static const std::vector<Benchmark> table = {
      {"train", "training-loop samples/s: nos vs the same loop in Python PyTorch", bench_train_command},
      {"step", "one optimizer step in ns/param: fused and reference paths, LibTorch's Adam and SGD, a memory floor",
       bench_step_command},
      {"search", "the search-efficiency mechanisms, one stage each, on a pinned Fashion-MNIST proxy",
       bench_search_command},
      {"children", "children-steps/s of K children trained as one stacked model against one child alone",
       bench_children_command},
      {"profile", "where one child's epoch goes on real data: load, gather, forward, backward, update, evaluation",
       bench_profile_command},
  };
  return table;
}

const std::vector<std::string>& benchmark_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const Benchmark& b : benchmarks()) out.emplace_back(b.name);
    return out;
  }();
  return names;
}

int bench_command(const Args& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    throw UserError("expected what to benchmark: 'nos bench NAME [options]' with NAME one of " +
                    joined(benchmark_names()) + " ('nos bench --help' says what each measures)");
  }
  const std::string& what = args[0];
  const Args rest(args.begin() + 1, args.end());
  if (what == "--help" || what == "-h") {
    print_overview(out);
    return kExitOk;
  }
  for (const Benchmark& b : benchmarks()) {
    if (what == b.name) return b.run(rest, out, err);
  }
  if (!what.empty() && what[0] == '-') {
    throw UserError("expected what to benchmark before options: 'nos bench NAME " + what + " ...' with NAME one of " +
                    joined(benchmark_names()));
  }
  throw UserError("unknown benchmark '" + what + "' (known: " + joined(benchmark_names()) + ")");
}

namespace {

int bench_train_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()("help,h", "show this help");
  add_network_bench_options(options, 200, 20, "nos's rule (default adam; Python always runs Adam)");
  options.add_options()
      ("python", po::value<std::string>()->value_name("EXE"), "the Python to compare with (default /usr/bin/python3)")
      ("no-python", po::bool_switch(), "measure nos only")
      ("bfloat16", po::bool_switch(),
       "also measure nos's step with the forward pass under bfloat16 autocast (dtype bfloat16), and its ratio")
      ("nchw", po::bool_switch(), "nos keeps activations in NCHW (default: channels-last for convolutions)")
      ("python-channels-last", po::bool_switch(),
       "Python converts model and batches to channels-last too (default: PyTorch's NCHW, as most scripts do)")
      ("python-malloc-tuned", po::bool_switch(),
       "Python runs with nos's allocator settings (glibc's MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, "
       "MALLOC_MMAP_MAX_)")
      ("json", po::bool_switch(), "print one JSON object");
  po::variables_map vm = parse_options(args, options);
  if (vm.count("help")) {
    print_train_bench_help(out, options);
    return kExitOk;
  }
  auto flag = [&](const char* name) -> const std::string* {
    return vm.count(name) ? &vm[name].as<std::string>() : nullptr;
  };
  const NetworkBenchFlags f = read_network_bench_flags(vm);
  const std::string& task_name = f.task_name;
  const std::string& rule_text = f.rule_text;
  bench::TrainBenchOptions o;
  apply_network_bench_flags(f, o);
  if (const std::string* v = flag("python")) o.python_executable = *v;
  o.nos_channels_last = !vm["nchw"].as<bool>();
  o.python = !vm["no-python"].as<bool>();
  o.bfloat16 = vm["bfloat16"].as<bool>();
  o.python_channels_last = vm["python-channels-last"].as<bool>();
  o.python_malloc_tuned = vm["python-malloc-tuned"].as<bool>();

  if (o.python && !is_executable(o.python_executable)) {
    throw UserError("--python: '" + o.python_executable + "' is not an executable (give the Python with torch to "
                    "compare with, or --no-python to measure nos alone)");
  }

  bench::TrainBenchResult r = bench::run_train_bench(o);
  if (!o.python) r.python.why = "not measured (--no-python)";
  if (vm["json"].as<bool>()) {
    print_json(out, task_name, rule_text, o, r);
  } else {
    print_text(out, task_name, rule_text, o, r);
  }
  // The benchmark is the ratio: a Python side that was asked for and gave no figure fails it.
  if (o.python && !r.python.ok) {
    err << "nos bench train: the Python side gave no figure (" << r.python.why
        << "); the ratio is missing. Use --no-python to measure nos alone\n";
    return kExitBenchFailed;
  }
  return kExitOk;
}

}  // namespace

}  // namespace nos::cli
