// `nos eval`: run a rule on an analytic objective or train a child network; print a summary or one JSON object.
#include <unistd.h>

#include <ATen/Parallel.h>

#include <charconv>
#include <cmath>
#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/text.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/data_paths.h"
#include "cli/eval_config.h"
#include "common/json.h"
#include "dsl/error.h"
#include "experiments/rows.h"
#include "optimizers/optimizers.h"
#include "tasks/tasks.h"

namespace nos::cli {

namespace po = boost::program_options;

namespace {

// Shortest text that reads back as the same double ("nan", "inf" when not finite), for CSV files.
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

// `text` broken at spaces into lines of at most `width` characters, the later ones indented by `indent` spaces.
std::string wrapped(const std::string& text, size_t width, size_t indent) {
  std::istringstream words(text);
  std::string out, line, word;
  while (words >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line = std::string(indent, ' ');
    } else if (!line.empty()) {
      line += " ";
    }
    line += word;
  }
  return out + line + "\n";
}

// The child-network paragraph's opening: the data sets and models from their registries (tasks::datasets(),
// tasks::models()), wrapped as the rest of the help.
std::string child_networks_text() {
  std::vector<std::string> models;
  for (const tasks::ModelInfo& m : tasks::models()) {
    models.push_back(std::string(m.name) + (m.note.empty() ? "" : " (" + std::string(m.note) + ")"));
  }
  return wrapped("Child networks, <dataset>-<model>: datasets " + joined(tasks::dataset_names()) + "; models " +
                     joined(models) + " (e.g. fmnist-convnet, cifar10-3c3d, cifar10-wrn-16-4):",
                 106, 2);
}

void print_eval_help(std::ostream& out, const po::options_description& options) {
  const EvalConfig defaults;
  std::string tasks_text;
  for (const std::string& name : tasks::objective_names()) tasks_text += (tasks_text.empty() ? "" : ", ") + name;
  out << "Usage: nos eval [--config FILE.yaml] [--rule R] [--task T] [--steps N | --epochs E]\n"
      << "                [--lr X | --lr-grid X1,X2,...] [options]\n\n"
      << "Runs a rule on a task and reports the outcome. Settings come from the defaults, then the config file\n"
      << "(keys as the long options, with '_' for '-'), then the flags. The rule may be a search run's found\n"
      << "rule: @RUN_DIR (its best) or @RUN_DIR:#K (its K-th best).\n\n"
      << "Analytic objectives (" << tasks_text << "):\n"
      << "  minimise from the start point for --steps (default " << kDefaultObjectiveSteps << ") at --lr (default "
      << brief(kDefaultObjectiveLr) << "), float64 unless --dtype.\n"
      << "  Without arguments: rule " << defaults.rule << " on " << defaults.task << ".\n\n"
      << child_networks_text()
      << "  train for --epochs (default " << kDefaultEpochs << ") or --steps in batches of --batch-size; with --lr\n"
      << "  at a fixed learning rate, else by the paper's protocol: one epoch at each lr of --lr-grid (default\n"
      << "  1e-5 ... 1, one per decade), the best validation accuracy wins, then the full budget at that lr.\n"
      << "  The reward is the final validation accuracy (Bello et al. 2017); test accuracy is reported beside it.\n"
      << "  Data: Fashion-MNIST from /usr/share/datasets/fashion-mnist, CIFAR-10 from ../shared/data/cifar10-jpeg\n"
      << "  (or the repository's shared/ folder), else --data-dir; decoded JPEGs are cached in --cache-dir\n"
      << "  (default $XDG_CACHE_HOME/nos or ~/.cache/nos).\n\n"
      << "A run whose loss becomes non-finite or explodes stops early with status 'diverged' (exit code 0).\n\n"
      << options;
}

// Progress on stderr: on a terminal one line (phase, epoch, step, loss, accuracy, ETA) rewritten in place at every
// check; elsewhere (a pipe, a log file) one plain line per finished epoch, so long runs show where they are.
class ProgressLine {
 public:
  ProgressLine(std::ostream& err, bool terminal) : err_(err), terminal_(terminal) {}
  void operator()(const tasks::TrainProgress& p) {
    if (!terminal_ && !p.epoch_end) return;
    err_ << (terminal_ ? "\r\033[K[" : "[") << p.phase << ", lr " << brief(p.lr) << "] epoch " << p.epoch << "/"
         << p.epochs << " step " << p.step << "/" << p.steps << " loss " << fixed(p.loss, 4);
    if (p.val_acc >= 0) err_ << " val acc " << fixed(p.val_acc, 4);
    err_ << " ETA " << duration(p.eta_seconds) << (terminal_ ? "" : "\n") << std::flush;
    shown_ = terminal_;
  }
  void clear() {
    if (shown_) err_ << "\r\033[K" << std::flush;
  }

 private:
  std::ostream& err_;
  bool terminal_;
  bool shown_ = false;
};

int run_objective_task(const EvalConfig& config, const optimizers::ResolvedRule& rule, const po::variables_map& vm,
                       std::ostream& out) {
  const tasks::Objective objective = tasks::make_objective(config.task, config.seed);
  const int64_t steps = config.steps;
  const double lr = config.lr;
  const torch::Dtype dtype = config.dtype == "float32" ? torch::kFloat32 : torch::kFloat64;
  const torch::Device device = parse_device(config.device, "device");

  std::ofstream trace;
  std::string trace_path;
  if (vm.count("trace")) {
    trace_path = vm["trace"].as<std::string>();
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
  run_config.steps = steps;
  run_config.lr = lr;
  run_config.dtype = dtype;
  run_config.seed = config.seed;
  run_config.device = device;
  const tasks::ObjectiveResult result = tasks::run_objective(rule, objective, run_config, on_step);

  if (trace.is_open()) {
    trace.close();
    if (!trace) throw UserError("--trace: error while writing '" + trace_path + "'");
  }

  const std::string rule_name = rule.name.empty() ? rule.text : rule.name;
  const std::string canonical = optimizers::canonical_text(rule);
  if (vm["json"].as<bool>()) {
    JsonObject json;
    json.add_string("rule", rule_name)
        .add_string("canonical", canonical)
        .add_string("task", objective.name)
        .add_int("steps", steps)
        .add_number("lr", lr)
        .add_string("dtype", config.dtype)
        .add_uint("seed", config.seed)
        .add_string("device", device.str())
        .add_string("status", tasks::status_text(result.status))
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
      << "steps:     " << steps << " at lr " << brief(lr) << " (" << config.dtype << ", seed " << config.seed
      << ", " << device.str() << ")\n"
      << "status:    " << result.status;
  if (result.status != tasks::Status::kOk) out << " after " << result.steps_done << " steps";
  out << "\n"
      << "loss:      " << brief(result.initial_loss) << " -> " << brief(result.final_loss) << "\n"
      << "point:     " << brief_point(result.final_point) << "\n"
      << "distance:  " << brief(result.distance_to_optimum) << " to the optimum\n"
      << "seconds:   " << brief(result.seconds) << "\n";
  return kExitOk;
}

JsonObject epoch_json(const tasks::EpochMetrics& m) {
  JsonObject json;
  json.add_int("epoch", m.epoch)
      .add_int("steps", m.steps)
      .add_number("train_loss", m.train_loss)
      .add_number("val_acc", m.val_acc)
      .add_number("test_acc", m.test_acc)
      .add_number("seconds", m.seconds)
      .add_number("lr", m.lr);
  return json;
}

JsonObject trial_json(const tasks::GridTrial& t) {
  JsonObject json;
  json.add_number("lr", t.lr)
      .add_string("status", tasks::status_text(t.status))
      .add_int("steps", t.steps)
      .add_number("train_loss", t.train_loss)
      .add_number("val_acc", t.val_acc)
      .add_number("seconds", t.seconds);
  return json;
}

// The training request the config and flags describe: its training settings as they are (resolve_eval_defaults).
tasks::EvalRequest network_request(const EvalConfig& config, const po::variables_map& vm) {
  tasks::EvalRequest request;
  static_cast<tasks::TrainingSettings&>(request) = config;
  request.rule = config.rule;
  // --no-test: no pass over the test images (10,000 of them, often most of a short run's time); test_acc is NaN.
  request.test_accuracy = !vm["no-test"].as<bool>();
  return request;
}

// The per-epoch metrics into --csv's file (opened before the training, so a bad path fails first).
void write_epochs_csv(std::ofstream& csv, const std::string& csv_path, const tasks::EvalRecord& record) {
  if (csv.is_open()) {
    csv << "epoch,train_loss,val_acc,test_acc,seconds,lr\n";
    for (const tasks::EpochMetrics& m : record.epochs) {
      csv << m.epoch << "," << exact(m.train_loss) << "," << exact(m.val_acc) << "," << exact(m.test_acc) << ","
          << exact(m.seconds) << "," << exact(m.lr) << "\n";
    }
    csv.close();
    if (!csv) throw UserError("--csv: error while writing '" + csv_path + "'");
  }
}

// --json: one object with the settings, the result and the metrics.
void print_network_json(const EvalConfig& config, const tasks::EvalRequest& request, const tasks::EvalRecord& record,
                        const std::string& rule_name, int threads, std::ostream& out) {
  const bool grid = request.lr == 0;
  std::vector<JsonObject> epochs, trials;
  for (const tasks::EpochMetrics& m : record.epochs) epochs.push_back(epoch_json(m));
  for (const tasks::GridTrial& t : record.grid) trials.push_back(trial_json(t));
  JsonObject json;
  json.add_string("rule", rule_name)
      .add_string("canonical", record.canonical)
      .add_string("task", record.task)
      .add_string("data", record.data)
      .add_int("epochs", config.steps > 0 ? 0 : request.epochs)
      .add_int("steps", record.total_steps)
      .add_int("steps_per_epoch", record.steps_per_epoch)
      .add_int("batch_size", request.batch_size)
      .add_number("lr", record.lr)
      .add_string("lr_source", grid ? "grid" : "given")
      .add_numbers("lr_grid", grid ? request.lr_grid : std::vector<double>{})
      .add_string("lr_search", grid ? request.lr_search : std::string())
      .add_string("dtype", request.dtype)
      .add_uint("seed", request.seed)
      .add_string("device", request.device)
      .add_int("threads", threads)
      .add_bool("augment", request.augment)
      .add_string("recipe", tasks::recipe_text(request.recipe))
      .add_string("status", tasks::status_text(record.status))
      .add_string("message", record.message)
      .add_number("reward", record.reward)
      .add_number("val_acc", record.val_acc)
      .add_number("test_acc", record.test_acc)
      .add_int("steps_done", record.steps_done)
      .add_objects("grid", trials)
      .add_objects("epoch_metrics", epochs)
      .add_number("seconds", record.seconds);
  out << json.str() << "\n";
}

// The summary a person reads: the settings, the lr grid, the epochs and the result.
void print_network_summary(const EvalConfig& config, const tasks::EvalRequest& request,
                           const tasks::EvalRecord& record, const std::string& rule_name, int threads,
                           std::ostream& out) {
  const bool grid = request.lr == 0;
  out << "rule:      " << rule_name << "\n"
      << "canonical: " << record.canonical << "\n"
      << "task:      " << record.task << "\n"
      << "data:      " << record.data << "\n"
      << "budget:    ";
  if (config.steps > 0) {
    out << record.total_steps << " steps";
  } else {
    out << request.epochs << (request.epochs == 1 ? " epoch" : " epochs") << " = " << record.total_steps << " steps";
  }
  out << " of batch " << request.batch_size << " (" << request.dtype << ", seed " << request.seed << ", "
      << request.device << ", " << threads << (threads == 1 ? " thread" : " threads")
      << (request.augment ? ", augmented" : "") << ")\n"
      << "training:  " << tasks::describe_recipe(request.recipe) << "\n";
  if (grid) {
    out << "lr grid:   ";
    for (size_t i = 0; i < record.grid.size(); ++i) {
      const tasks::GridTrial& t = record.grid[i];
      const std::string outcome =
          t.status == tasks::Status::kOk ? fixed(t.val_acc, 4) : std::string(tasks::status_text(t.status));
      out << (i ? "  " : "") << brief(t.lr) << ": " << outcome;
    }
    out << "\n";
  }
  out << "lr:        " << brief(record.lr) << (grid ? " (best validation accuracy of the grid)" : "") << "\n";
  if (!record.epochs.empty()) {
    out << "epoch  train_loss  val_acc  test_acc  seconds\n";
    for (const tasks::EpochMetrics& m : record.epochs) {
      out << std::setw(5) << m.epoch << "  " << std::setw(10) << fixed(m.train_loss, 4) << "  " << std::setw(7)
          << fixed(m.val_acc, 4) << "  " << std::setw(8) << fixed(m.test_acc, 4) << "  " << std::setw(7)
          << fixed(m.seconds, 1) << "\n";
    }
  }
  out << "status:    " << record.status;
  if (!record.message.empty()) out << " (" << record.message << ")";
  out << "\n"
      << "reward:    " << fixed(record.reward, 4) << " (final validation accuracy)\n"
      << "test acc:  " << fixed(record.test_acc, 4) << "\n"
      << "seconds:   " << fixed(record.seconds, 1) << "\n";
}

int run_network_task(const EvalConfig& config, const tasks::TaskSpec& task, const optimizers::ResolvedRule& rule,
                     const po::variables_map& vm, std::ostream& out, std::ostream& err) {
  const tasks::EvalRequest request = network_request(config, vm);
  tasks::LocalEvaluatorOptions options;
  options.data_dirs[task.dataset] =
      resolve_data_dir(task.dataset, config.data_dir, "--data-dir (or data_dir in a --config)");
  options.cache_dir = resolve_cache_dir(config.cache_dir);
  options.threads = config.threads;
  // A terminal gets the progress line; a pipe or file a line per epoch (--quiet and --json: none).
  ProgressLine progress(err, &err == &std::cerr && ::isatty(STDERR_FILENO));
  if (!vm["quiet"].as<bool>() && !vm["json"].as<bool>()) {
    options.progress = [&progress](const tasks::TrainProgress& p) { progress(p); };
  }

  // The CSV file is opened first, so an unwritable path fails before the training, not after.
  std::ofstream csv;
  std::string csv_path;
  if (vm.count("csv")) {
    csv_path = vm["csv"].as<std::string>();
    csv.open(csv_path);
    if (!csv) throw UserError("--csv: cannot open '" + csv_path + "' for writing");
  }

  tasks::LocalEvaluator evaluator(options);
  tasks::EvalRecord record;
  try {
    record = evaluator.evaluate(request);
  } catch (...) {
    progress.clear();
    throw;
  }
  progress.clear();
  const int threads = at::get_num_threads();

  write_epochs_csv(csv, csv_path, record);
  const std::string rule_name = rule.name.empty() ? rule.text : rule.name;
  if (vm["json"].as<bool>()) {
    print_network_json(config, request, record, rule_name, threads, out);
    return kExitOk;
  }
  print_network_summary(config, request, record, rule_name, threads, out);
  return kExitOk;
}

// The flags of nos eval: its own, and those of its training settings from the field table.
po::options_description eval_options() {
  po::options_description options("Options");
  options.add_options()
      ("help,h", "show this help")
      ("config", po::value<std::string>()->value_name("FILE"), "YAML file with eval settings; flags override it")
      ("rule", po::value<std::string>()->value_name("R"), "a named rule (see 'nos rules') or DSL text");
  add_eval_setting_options(options);
  options.add_options()
      ("trace", po::value<std::string>()->value_name("FILE"), "objectives: write step,loss,x0,x1,... to FILE")
      ("csv", po::value<std::string>()->value_name("FILE"), "networks: write the per-epoch metrics to FILE")
      ("json", po::bool_switch(), "print one JSON object instead of the summary")
      ("no-test", po::bool_switch(), "networks: skip every test pass (test accuracy reported as not measured)")
      ("quiet", po::bool_switch(), "networks: no progress on stderr (a terminal's line, else a line per epoch; "
                                   "--json prints none either)");
  return options;
}

// The rule to train: a search run's found rule (@RUN_DIR, @RUN_DIR:#K) is its canonical text from here on, in every
// output.
optimizers::ResolvedRule resolve_eval_rule(EvalConfig& config) {
  config.rule = experiments::resolve_rule_reference(config.rule, config.rule_origin);
  optimizers::ResolvedRule rule;
  try {
    rule = optimizers::resolve_rule(config.rule);
  } catch (const dsl::RuleError& e) {
    if (config.rule_origin == "--rule" || config.rule_origin == "default") throw;
    throw UserError(config.rule_origin + ": not a named rule nor valid rule text:\n" + e.what());
  }
  return rule;
}

}  // namespace

int eval_command(const Args& args, std::ostream& out, std::ostream& err) {
  po::options_description options = eval_options();
  po::variables_map vm = parse_options(args, options);
  if (vm.count("help")) {
    print_eval_help(out, options);
    return kExitOk;
  }
  EvalConfig config;
  if (vm.count("config")) load_eval_config(vm["config"].as<std::string>(), config);
  apply_eval_flags(vm, config);
  const tasks::TaskSpec task = tasks::parse_task_name(config.task);
  check_eval_settings(vm, config, task);
  resolve_eval_defaults(config, task);
  const optimizers::ResolvedRule rule = resolve_eval_rule(config);
  if (task.analytic) {
    if (config.threads > 0) at::set_num_threads(config.threads);
    return run_objective_task(config, rule, vm, out);
  }
  if (vm.count("trace")) {
    throw UserError("--trace: only analytic objectives write a step trace; for '" + task.name + "' use --csv FILE");
  }
  tasks::check_rule_recipe(rule, task.model, config.recipe);
  const std::string warning = tasks::rule_recipe_warning(rule, config.recipe);
  if (!warning.empty()) err << "warning: " << warning << "\n";
  return run_network_task(config, task, rule, vm, out, err);
}

}  // namespace nos::cli
