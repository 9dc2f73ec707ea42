// `nos bench profile`: where one child's epoch goes on real data (tasks::profile_child), phase by phase.
#include <ATen/Parallel.h>

#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/data_paths.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/json.h"
#include "tasks/child_profile.h"
#include "tasks/tasks.h"

namespace nos::cli {

namespace po = boost::program_options;

namespace {

// The training settings the profile takes from the table (tasks/settings.h), as nos eval spells them.
const std::vector<std::string>& profile_keys() {
  static const std::vector<std::string> keys = {"task",   "batch_size", "lr",       "train_size", "validation_size",
                                                "split",  "augment",    "device",   "dtype",      "data_dir",
                                                "cache_dir", "threads", "seed"};
  return keys;
}

std::vector<int64_t> parse_batches(const std::string& text) {
  return parsed_at("--eval-batches", [&] {
    return parse_list(text, "batch sizes", [](const std::string& b) { return parse_whole<int64_t>(b, 1); });
  });
}

void print_help(std::ostream& out, const po::options_description& options) {
  out << "Usage: nos bench profile [--task T] [--train-size N] [--dtype bfloat16] [options]\n\n"
      << "Trains one epoch of a child on the task's real data at a fixed lr, as a run does (same step, same\n"
      << "evaluation), timing each phase: loading the data (from the decoded-image cache when there is one),\n"
      << "moving it to the device, building the model and optimizer, and per step gathering the batch, forward and\n"
      << "loss, backward, the optimizer's update; then the validation and test passes, and the validation pass again\n"
      << "at each --eval-batches size. Prints seconds and shares of the epoch.\n\n"
      << options;
}

struct Phase {
  const char* name;
  double seconds;
  bool per_step;  // a phase of every training step: its ms per step is printed too
};

// What the profile ran, beside its figures.
struct Header {
  std::string task, rule, dtype, device;
  int64_t train_images = 0;
  double load = 0;  // seconds to load the data set
};

std::vector<Phase> epoch_phases(const tasks::ChildProfile& p) {
  return {{"gather", p.gather, true},          {"forward", p.forward, true},
          {"backward", p.backward, true},      {"update", p.update, true},
          {"loop", p.other, false},            {"validation", p.validation.seconds, false},
          {"test", p.test.seconds, false}};
}

void print_json(std::ostream& out, const Header& h, const tasks::ChildProfile& p) {
  JsonObject json;
  json.add_string("task", h.task)
      .add_string("rule", h.rule)
      .add_string("dtype", h.dtype)
      .add_string("device", h.device)
      .add_int("threads", at::get_num_threads())
      .add_int("train_images", h.train_images)
      .add_int("steps", p.steps)
      .add_int("batch_size", p.batch)
      .add_int("eval_batch_size", p.validation.batch)
      .add_number("load", h.load)
      .add_number("to_device", p.to_device)
      .add_number("setup", p.setup);
  for (const Phase& phase : epoch_phases(p)) json.add_number(phase.name, phase.seconds);
  json.add_number("epoch", p.epoch);
  for (const tasks::EvaluationTime& t : p.validation_at) {
    json.add_number("validation_at_" + std::to_string(t.batch), t.seconds);
  }
  out << json.str() << "\n";
}

void print_text(std::ostream& out, const Header& h, const tasks::ChildProfile& p) {
  const int threads = at::get_num_threads();
  out << "bench profile: " << h.task << ", rule " << h.rule << ", " << h.dtype << ", " << h.device << ", " << threads
      << (threads == 1 ? " thread" : " threads") << ", " << h.train_images << " training images (" << p.steps
      << " steps of " << p.batch << "), " << p.validation.images << " validation, " << p.test.images
      << " test, evaluation batch " << p.validation.batch << "\n"
      << std::fixed << std::setprecision(2);
  out << "once per run: load " << h.load << " s, to device " << p.to_device << " s, model and optimizer " << p.setup
      << " s\n";
  out << "one epoch: " << p.epoch << " s\n";
  for (const Phase& phase : epoch_phases(p)) {
    out << "  " << std::left << std::setw(12) << phase.name << std::right << std::setw(8) << phase.seconds << " s "
        << std::setw(6) << std::setprecision(1) << 100.0 * phase.seconds / p.epoch << " %" << std::setprecision(2);
    if (phase.per_step) out << "  (" << 1e3 * phase.seconds / static_cast<double>(p.steps) << " ms/step)";
    out << "\n";
  }
  for (const tasks::EvaluationTime& t : p.validation_at) {
    out << "validation at batch " << t.batch << ": " << t.seconds << " s (speed-up over batch " << p.validation.batch
        << ": " << p.validation.seconds / t.seconds << "x)\n";
  }
}

}  // namespace

int bench_profile_command(const Args& args, std::ostream& out, std::ostream& /*err*/) {
  po::options_description options("Options");
  options.add_options()("help,h", "show this help");
  tasks::EvalRequest defaults;
  defaults.task = "cifar10-convnet";
  defaults.lr = 1e-3;
  add_setting_options(options, profile_keys(), defaults,
                      {{"task", "a child-network task (default cifar10-convnet)"},
                       {"lr", "the fixed lr of the epoch (default 0.001)"}});
  options.add_options()
      ("rule", po::value<std::string>()->value_name("R"), "the rule (default adam)")
      ("eval-batch-size", po::value<std::string>()->value_name("B"),
       "the batch of the validation and test passes (default: the training batch, as runs do)")
      ("eval-batches", po::value<std::string>()->value_name("B,..."),
       "time the validation pass again at these batch sizes (default 500,1000)")
      ("json", po::bool_switch(), "print one JSON object");
  po::variables_map vm = parse_options(args, options);
  if (vm.count("help")) {
    print_help(out, options);
    return kExitOk;
  }
  tasks::EvalRequest request = defaults;
  apply_setting_flags(vm, profile_keys(), request);
  const tasks::TaskSpec task = parsed_at("--task", [&] { return tasks::parse_task_name(request.task); });
  if (task.analytic) throw UserError("--task: '" + task.name + "' is an analytic objective; profile a network task");
  if (!(request.lr > 0)) throw UserError("--lr: the profile trains at a fixed lr > 0");
  request.rule = vm.count("rule") ? vm["rule"].as<std::string>() : "adam";
  const optimizers::ResolvedRule rule = parsed_at("--rule", [&] { return optimizers::resolve_rule(request.rule); });
  std::vector<int64_t> extra = {500, 1000};
  if (vm.count("eval-batches")) extra = parse_batches(vm["eval-batches"].as<std::string>());
  if (request.threads > 0) at::set_num_threads(request.threads);

  tasks::LocalEvaluatorOptions evaluator_options;
  evaluator_options.data_dirs[task.dataset] = resolve_data_dir(task.dataset, request.data_dir, "--data-dir");
  evaluator_options.cache_dir = resolve_cache_dir(request.cache_dir);
  tasks::LocalEvaluator evaluator(evaluator_options);
  const Clock::time_point load_start = Clock::now();
  const std::shared_ptr<const tasks::DataSplits> data = evaluator.data(task.dataset, request);
  const double load = seconds_since(load_start);
  tasks::TrainConfig config = tasks::train_config(request, task);
  if (vm.count("eval-batch-size")) {
    config.eval_batch_size = whole_flag<int64_t>(vm["eval-batch-size"].as<std::string>(), "--eval-batch-size");
  }
  const tasks::ChildProfile p = tasks::profile_child(rule, *data, config, extra);

  const std::string dtype = request.dtype.empty() ? "float32" : request.dtype;
  const Header header{task.name, request.rule, dtype, config.device.str(), data->train.size(), load};
  if (vm["json"].as<bool>()) {
    print_json(out, header, p);
  } else {
    print_text(out, header, p);
  }
  return kExitOk;
}

}  // namespace nos::cli
