// `nos bench children`: its flags and printing; bench::run_children_bench measures (bench/children_bench.h).
#include <ATen/Parallel.h>

#include <cstdlib>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "bench/children_bench.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "common/json.h"
#include "common/error.h"
#include "optimizers/optimizers.h"
#include "tasks/tasks.h"

namespace nos::cli {

namespace po = boost::program_options;

namespace {

std::vector<int64_t> parse_ks(const std::string& text) {
  return parsed_at("--k", [&] {
    return parse_list(text, "population sizes (e.g. 1,2,4,8)",
                      [](const std::string& k) { return parse_whole<int64_t>(k, 1); });
  });
}

}  // namespace

int bench_children_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options("Options");
  options.add_options()("help,h", "show this help");
  add_network_bench_options(options, 20, 3, "every child's rule (default adam)");
  options.add_options()
      ("k", po::value<std::string>()->value_name("K,..."), "population sizes (default 1,2,4,8,16,32,64)")
      ("min-seconds", po::value<std::string>()->value_name("S"),
       "time each figure over at least S seconds, raising the steps as needed (default 0.5)")
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
  const NetworkBenchFlags f = read_network_bench_flags(vm);
  const std::string& task_name = f.task_name;
  const std::string& rule_text = f.rule_text;
  bench::ChildrenBenchOptions o;
  apply_network_bench_flags(f, o);
  if (vm.count("k")) o.ks = parse_ks(vm["k"].as<std::string>());
  if (vm.count("min-seconds")) {
    const std::string& text = vm["min-seconds"].as<std::string>();
    char* end = nullptr;
    o.min_seconds = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !(o.min_seconds > 0) || !(o.min_seconds < 3600)) {
      throw UserError("--min-seconds: expected seconds in (0, 3600), got '" + text + "'");
    }
  }
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
          .add_int("steps", row.steps)
          .add_number("seconds", row.seconds)
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
      << std::fixed << std::setprecision(1) << "solo child: " << r.solo_steps_per_second << " steps/s ("
      << r.solo_steps << " steps in " << std::setprecision(2) << r.solo_seconds << " s)\n"
      << "each figure timed over at least " << o.min_seconds << " s (--min-seconds)\n"
      << std::setw(5) << "K" << std::setw(22) << "children-steps/s" << std::setw(12) << "ratio" << std::setw(9)
      << "steps" << std::setw(10) << "seconds" << "\n";
  for (const bench::ChildrenBenchRow& row : r.rows) {
    out << std::setw(5) << row.k << std::setw(22) << std::setprecision(1) << row.children_steps_per_second
        << std::setw(11) << std::setprecision(2) << row.ratio << "x" << std::setw(9) << row.steps << std::setw(10)
        << row.seconds << "\n";
  }
  return kExitOk;
}

}  // namespace nos::cli
