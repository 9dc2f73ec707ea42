// `nos eval`: run a rule on an analytic objective, print a summary or one JSON object, optionally a CSV trace.
#include <charconv>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/eval_config.h"
#include "cli/json.h"
#include "dsl/error.h"
#include "optimizers/optimizers.h"
#include "tasks/tasks.h"

namespace nos::cli {

namespace po = boost::program_options;

namespace {

// Shortest text that reads back as the same double ("nan", "inf" when not finite), for the CSV trace.
std::string exact(double value) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, end);
}

// Six significant digits, for the human summary.
std::string brief(double value) {
  std::ostringstream s;
  s << std::setprecision(6) << value;
  return s.str();
}

std::string brief_point(const std::vector<double>& point) {
  constexpr size_t kShown = 6;
  std::string text = "(";
  for (size_t i = 0; i < point.size() && i < kShown; ++i) text += (i ? ", " : "") + brief(point[i]);
  if (point.size() > kShown) text += ", ... " + std::to_string(point.size()) + " values";
  return text + ")";
}

void print_help(std::ostream& out, const po::options_description& options) {
  const EvalConfig defaults;
  out << "Usage: nos eval [--config FILE.yaml] [--rule R] [--task T] [--steps N] [--lr X] [--dtype D] [--seed S]\n"
      << "                [--device DEV] [--trace FILE.csv] [--json]\n\n"
      << "Minimises an analytic objective from its start with a rule and reports the outcome. Settings come from\n"
      << "the defaults, then the config file (keys rule, task, steps, lr, dtype, seed, device), then the flags.\n"
      << "Without arguments it runs the embedded example: rule " << defaults.rule << " on " << defaults.task
      << ",\n" << defaults.steps << " steps at lr " << brief(defaults.lr) << ", " << dtype_name(defaults.dtype)
      << ", seed " << defaults.seed << ".\n"
      << "A run whose loss becomes non-finite or explodes stops early with status 'diverged' (exit code 0).\n\n"
      << options;
}

}  // namespace

int eval_command(const Args& args, std::ostream& out, std::ostream& err) {
  std::string known_tasks;
  for (const std::string& name : tasks::objective_names()) known_tasks += (known_tasks.empty() ? "" : ", ") + name;
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("config", po::value<std::string>()->value_name("FILE"), "YAML file with eval settings; flags override it")
      ("rule", po::value<std::string>()->value_name("R"), "a named rule (see 'nos rules') or DSL text")
      ("task", po::value<std::string>()->value_name("T"), ("objective: " + known_tasks).c_str())
      ("steps", po::value<std::string>()->value_name("N"), "optimizer steps (>= 1); also T for decays")
      ("lr", po::value<std::string>()->value_name("X"), "learning rate (> 0)")
      ("dtype", po::value<std::string>()->value_name("D"), "float32 or float64")
      ("seed", po::value<std::string>()->value_name("S"), "seed of the rule's noise and of seeded tasks")
      ("device", po::value<std::string>()->value_name("DEV"), "cpu, cuda or cuda:N")
      ("trace", po::value<std::string>()->value_name("FILE"), "write step,loss,x0,x1,... for every step to FILE")
      ("json", po::bool_switch(), "print one JSON object instead of the summary");
  po::variables_map vm = parse_options(args, options);
  if (vm.count("help")) {
    print_help(out, options);
    return kExitOk;
  }

  EvalConfig config;
  if (vm.count("config")) load_eval_config(vm["config"].as<std::string>(), config);
  auto flag = [&](const char* name) -> const std::string* {
    return vm.count(name) ? &vm[name].as<std::string>() : nullptr;
  };
  if (const std::string* v = flag("rule")) {
    if (v->empty()) throw UserError("--rule: expected a rule name or DSL text");
    config.rule = *v;
    config.rule_origin = "--rule";
  }
  if (const std::string* v = flag("task")) config.task = parse_task(*v, "--task");
  if (const std::string* v = flag("steps")) config.steps = parse_steps(*v, "--steps");
  if (const std::string* v = flag("lr")) config.lr = parse_lr(*v, "--lr");
  if (const std::string* v = flag("dtype")) config.dtype = parse_dtype(*v, "--dtype");
  if (const std::string* v = flag("seed")) config.seed = parse_seed(*v, "--seed");
  if (const std::string* v = flag("device")) config.device = parse_device(*v, "--device");

  optimizers::ResolvedRule rule;
  try {
    rule = optimizers::resolve_rule(config.rule);
  } catch (const dsl::RuleError& e) {
    if (config.rule_origin == "--rule" || config.rule_origin == "default") throw;
    throw UserError(config.rule_origin + ": not a named rule nor valid rule text:\n" + e.what());
  }
  const tasks::Objective objective = tasks::make_objective(config.task, config.seed);

  std::ofstream trace;
  std::string trace_path;
  if (const std::string* v = flag("trace")) {
    trace_path = *v;
    trace.open(trace_path);
    if (!trace) throw UserError("--trace: cannot open '" + trace_path + "' for writing");
    trace << "step,loss";
    for (int64_t i = 0; i < objective.dims; ++i) trace << ",x" << i;
    trace << "\n";
  }
  tasks::StepCallback on_step;
  if (trace.is_open()) {
    on_step = [&trace](int64_t step, double loss, const torch::Tensor& x) {
      torch::Tensor point = x.to(torch::kCPU, torch::kFloat64).contiguous();
      const double* values = point.data_ptr<double>();
      trace << step << "," << exact(loss);
      for (int64_t i = 0; i < point.numel(); ++i) trace << "," << exact(values[i]);
      trace << "\n";
    };
  }

  tasks::ObjectiveRunConfig run_config;
  run_config.steps = config.steps;
  run_config.lr = config.lr;
  run_config.dtype = config.dtype;
  run_config.seed = config.seed;
  run_config.device = config.device;
  const tasks::ObjectiveResult result = tasks::run_objective(rule, objective, run_config, on_step);

  if (trace.is_open()) {
    trace.close();
    if (!trace) throw UserError("--trace: error while writing '" + trace_path + "'");
  }

  const std::string rule_name = rule.name.empty() ? rule.text : rule.name;
  const std::string& canonical = rule.program->canonical_text();
  if (vm["json"].as<bool>()) {
    JsonObject json;
    json.add_string("rule", rule_name)
        .add_string("canonical", canonical)
        .add_string("task", objective.name)
        .add_int("steps", config.steps)
        .add_number("lr", config.lr)
        .add_string("dtype", dtype_name(config.dtype))
        .add_uint("seed", config.seed)
        .add_string("device", config.device.str())
        .add_string("status", result.status)
        .add_int("steps_done", result.steps_done)
        .add_number("initial_loss", result.initial_loss)
        .add_number("final_loss", result.final_loss)
        .add_numbers("final_point", result.final_point)
        .add_number("distance_to_optimum", result.distance_to_optimum)
        .add_number("seconds", result.seconds);
    out << json.str() << "\n";
    return kExitOk;
  }
  out << "rule:      " << rule_name << "\n"
      << "canonical: " << canonical << "\n"
      << "task:      " << objective.name << " (" << objective.dims << "-D, minimum " << brief(objective.optimum_value)
      << ")\n"
      << "steps:     " << config.steps << " at lr " << brief(config.lr) << " (" << dtype_name(config.dtype)
      << ", seed " << config.seed << ", " << config.device.str() << ")\n"
      << "status:    " << result.status;
  if (result.status != "ok") out << " after " << result.steps_done << " steps";
  out << "\n"
      << "loss:      " << brief(result.initial_loss) << " -> " << brief(result.final_loss) << "\n"
      << "point:     " << brief_point(result.final_point) << "\n"
      << "distance:  " << brief(result.distance_to_optimum) << " to the optimum\n"
      << "seconds:   " << brief(result.seconds) << "\n";
  return kExitOk;
}

}  // namespace nos::cli
