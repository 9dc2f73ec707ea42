// `nos bench children`: its flags and printing; bench::run_children_bench measures (bench/children_bench.h).
#include <ATen/Parallel.h>

#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "bench/children_bench.h"
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

std::vector<int64_t> parse_ks(const std::string& text) {
  std::vector<int64_t> ks;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) ks.push_back(parse_count(part, "--k", "a population size (>= 1)"));
  if (ks.empty()) throw UserError("--k: expected population sizes, e.g. 1,2,4,8");
  return ks;
}

}  // namespace

int bench_children_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("task", po::value<std::string>()->value_name("T"), "a child-network task (default fmnist-convnet)")
      ("k", po::value<std::string>()->value_name("K,..."), "population sizes (default 1,2,4,8,16,32,64)")
      ("steps", po::value<std::string>()->value_name("N"), "timed steps per size (default 20)")
      ("warmup", po::value<std::string>()->value_name("W"), "untimed steps first (default 3)")
      ("batch-size", po::value<std::string>()->value_name("B"), "batch size (default 128)")
      ("rule", po::value<std::string>()->value_name("R"), "every child's rule (default adam)")
      ("threads", po::value<std::string>()->value_name("K"), "CPU threads (default: LibTorch's choice)")
      ("device", po::value<std::string>()->value_name("DEV"), "cpu (default), cuda or cuda:N")
      ("nchw", po::bool_switch(), "NCHW activations (default: channels-last for convolutions, as the trainer)")
      ("json", po::bool_switch(), "print one JSON object per size");
  po::variables_map vm = parse_options(args, options);
  if (vm.count("help")) {
    out << "Usage: nos bench children [--task T] [--k 1,2,4,...] [--steps N] [--device cuda] [options]\n\n"
        << "Measures children-steps per second of populations of K children trained as one stacked model\n"
        << "(tasks/population.h) against one child trained alone, on synthetic data of the task's shape, in one\n"
        << "run, and prints each K's figure and its ratio over the solo child.\n\n"
        << options;
    return kExitOk;
  }
  auto flag = [&](const char* name) -> const std::string* {
    return vm.count(name) ? &vm[name].as<std::string>() : nullptr;
  };
  const std::string task_name = flag("task") ? parse_task(*flag("task"), "--task") : "fmnist-convnet";
  bench::ChildrenBenchOptions o;
  o.task = tasks::parse_task_name(task_name);
  if (o.task.analytic) throw UserError("--task: '" + task_name + "' is an analytic objective; bench a network task");
  if (const std::string* v = flag("k")) o.ks = parse_ks(*v);
  if (const std::string* v = flag("steps")) o.steps = parse_count(*v, "--steps", "a number of steps");
  if (const std::string* v = flag("warmup")) {
    o.warmup = *v == "0" ? 0 : parse_count(*v, "--warmup", "a number of warm-up steps (or 0)");
  }
  if (const std::string* v = flag("batch-size")) o.batch = parse_count(*v, "--batch-size", "a batch size");
  if (const std::string* v = flag("threads")) at::set_num_threads(parse_threads(*v, "--threads"));
  const std::string rule_text = flag("rule") ? *flag("rule") : "adam";
  o.rule = optimizers::resolve_rule(rule_text);
  if (const std::string* v = flag("device")) o.device = parse_device(*v, "--device");
  o.channels_last = !vm["nchw"].as<bool>();
  const bench::ChildrenBenchResult r = bench::run_children_bench(o);
  if (vm["json"].as<bool>()) {
    for (const bench::ChildrenBenchRow& row : r.rows) {
      JsonObject json;
      json.add_string("task", task_name)
          .add_string("rule", rule_text)
          .add_string("device", o.device.str())
          .add_int("threads", r.threads)
          .add_int("batch_size", o.batch)
          .add_int("k", row.k)
          .add_number("children_steps_per_second", row.children_steps_per_second)
          .add_number("solo_steps_per_second", r.solo_steps_per_second)
          .add_number("ratio", row.ratio);
      out << json.str() << "\n";
    }
    return kExitOk;
  }
  out << "bench children: " << task_name << ", rule " << rule_text << ", batch " << o.batch << ", " << r.threads
      << (r.threads == 1 ? " thread" : " threads") << ", " << o.steps << " steps after " << o.warmup
      << " warm-up, " << o.device.str() << ", " << (o.channels_last ? "channels-last" : "NCHW") << "\n"
      << std::fixed << std::setprecision(1) << "solo child: " << r.solo_steps_per_second << " steps/s\n"
      << std::setw(5) << "K" << std::setw(22) << "children-steps/s" << std::setw(12) << "ratio" << "\n";
  for (const bench::ChildrenBenchRow& row : r.rows) {
    out << std::setw(5) << row.k << std::setw(22) << std::setprecision(1) << row.children_steps_per_second
        << std::setw(11) << std::setprecision(2) << row.ratio << "x\n";
  }
  return kExitOk;
}

}  // namespace nos::cli
